//! What the household register's "relation to the head" (与户主关系) says, as published relation
//! kinds. Registers write the words of GB/T 4761 (家庭关系代码) and their everyday forms; each
//! word is the member's relation to the head: `配偶` makes the member the head's spouse, `子` the
//! head's child, `父亲` the head's parent. Publish joins the register to this vocabulary
//! (`register_relation`) so the `household` and `relation` tables stay SQL.

use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};

/// The kind of the head's own row (the published tables' SQL names it `'head'`).
const HEAD: &str = "head";

/// A relation kind: `person_key` is the `<kind>` of `other_person_key`; `inverse` is what the
/// other person is of the first.
struct Kind {
    name: &'static str,
    inverse: &'static str,
    /// The register's words for a member who is this to the head.
    words: &'static [&'static str],
}

/// Every kind the register states, with its words. Other words (in-laws, 其他, a typo) give no
/// relation row: the table publishes only these kinds.
const KINDS: &[Kind] = &[
    Kind { name: HEAD, inverse: HEAD, words: &["户主", "本人"] },
    Kind { name: "spouse_of", inverse: "spouse_of", words: &["配偶", "夫", "妻", "丈夫", "妻子"] },
    Kind {
        name: "child_of",
        inverse: "parent_of",
        words: &[
            "子", "女", "儿子", "女儿", "独生子", "独生女", "长子", "次子", "三子", "四子", "五子", "长女", "次女", "三女", "四女", "五女",
            "养子", "养女", "继子", "继女", "养子或继子", "养女或继女", "其他儿子", "其他女儿",
        ],
    },
    Kind { name: "parent_of", inverse: "child_of", words: &["父亲", "母亲", "父", "母", "养父", "养母", "继父", "继母", "继父或养父", "继母或养母"] },
    Kind { name: "grandchild_of", inverse: "grandparent_of", words: &["孙子", "孙女", "外孙子", "外孙女"] },
    Kind { name: "grandparent_of", inverse: "grandchild_of", words: &["祖父", "祖母", "外祖父", "外祖母"] },
    Kind { name: "sibling_of", inverse: "sibling_of", words: &["兄", "弟", "姐", "妹", "哥哥", "弟弟", "姐姐", "妹妹"] },
];

/// `register_relation(word, kind, inverse)`: one row per word of the register.
pub fn vocabulary() -> RecordBatch {
    let rows: Vec<(&'static str, &'static Kind)> = KINDS.iter().flat_map(|k| k.words.iter().map(move |w| (*w, k))).collect();
    let schema = Schema::new(vec![
        Field::new("word", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("inverse", DataType::Utf8, false),
    ]);
    let column = |f: fn(&(&'static str, &'static Kind)) -> &'static str| Arc::new(rows.iter().map(|r| Some(f(r))).collect::<StringArray>());
    // Three text columns of equal length always make a batch of this schema.
    RecordBatch::try_new(Arc::new(schema), vec![column(|(w, _)| *w), column(|(_, k)| k.name), column(|(_, k)| k.inverse)]).expect("vocabulary columns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_means_one_kind_and_every_kind_has_its_inverse() {
        let mut words: Vec<&str> = KINDS.iter().flat_map(|k| k.words.iter().copied()).collect();
        let all = words.len();
        words.sort();
        words.dedup();
        assert_eq!(words.len(), all, "a word names two kinds");
        for kind in KINDS {
            let inverse = KINDS.iter().find(|k| k.name == kind.inverse).expect("the inverse is a kind");
            assert_eq!(inverse.inverse, kind.name, "{} and {} are each other's inverse", kind.name, inverse.name);
        }
        let batch = vocabulary();
        assert_eq!(batch.num_rows(), all);
        let kind_of = |word: &str| {
            let words = batch.column(0).as_any().downcast_ref::<StringArray>().unwrap();
            let kinds = batch.column(1).as_any().downcast_ref::<StringArray>().unwrap();
            (0..batch.num_rows()).find(|&i| words.value(i) == word).map(|i| kinds.value(i).to_string())
        };
        // The words the generator and the sample register write.
        for (word, kind) in [("户主", HEAD), ("配偶", "spouse_of"), ("子", "child_of"), ("女", "child_of"), ("父亲", "parent_of"), ("母亲", "parent_of")] {
            assert_eq!(kind_of(word).as_deref(), Some(kind), "{word}");
        }
        assert_eq!(kind_of("儿媳"), None, "in-laws are not a published kind");
    }
}
