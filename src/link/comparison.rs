//! The comparison vocabulary the scorer and the model share: which comparisons a pair is put
//! through, in what order, and the levels of each (level 0 of every comparison is "nothing to
//! compare" and weighs nothing). A pattern is a pair's level on each comparison.

/// The comparisons, in the order they are weighed, and each one's level names.
pub const COMPARISONS: [(&str, &[&str]); 5] = [
    ("number", &["nothing to compare", "same number", "one typo from the number", "different valid numbers", "another person's number"]),
    ("name", &["not compared", "exact", "homophone", "near_given", "different"]),
    ("birth date", &["not compared", "same", "different"]),
    ("sex", &["not compared", "same", "different"]),
    ("place", &["not compared", "same address or household", "different address and household"]),
];

/// The comparisons, by position in a pattern.
pub const NUMBER: usize = 0;
/// Position of the name comparison in a pattern.
pub const NAME: usize = 1;
/// Position of the birth-date comparison in a pattern.
pub const BIRTH: usize = 2;
/// Position of the sex comparison in a pattern.
pub const SEX: usize = 3;
/// Position of the place comparison (address or household) in a pattern.
pub const PLACE: usize = 4;

/// Level 0 of every comparison.
pub const NOT_COMPARED: u8 = 0;

/// The levels of `NUMBER`.
pub const NUMBER_SAME: u8 = 1;
/// A repair candidate of the mention's broken number is the candidate's number.
pub const NUMBER_REPAIRED: u8 = 2;
/// Both numbers valid and different, and the mention's is nobody else's we know.
pub const NUMBER_CONFLICTING: u8 = 3;
/// Both numbers valid and different, and the mention's is another known person's.
pub const NUMBER_OTHERS: u8 = 4;

/// The levels of `NAME`.
pub const NAME_EXACT: u8 = 1;
/// Same surname; given names read the same (a homophone, or a stand-in for a rare character).
pub const NAME_HOMOPHONE: u8 = 2;
/// Same surname; given names one character apart, or one dropped.
pub const NAME_NEAR_GIVEN: u8 = 3;
/// Anything else.
pub const NAME_DIFFERENT: u8 = 4;

/// The levels of `BIRTH`, `SEX` and `PLACE`: the two sides agree or not.
pub const AGREE: u8 = 1;
/// Both sides have the value, and the values differ.
pub const DISAGREE: u8 = 2;

/// A pair's level on each comparison.
pub type Pattern = [u8; 5];
