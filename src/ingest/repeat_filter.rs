//! A first, approximate pass of the duplicate-record-key check: a scalable Bloom filter that
//! sees every key once as it is staged and remembers the hashes of keys it may have seen before.
//! Only those few "suspect" keys are then checked exactly, so memory follows the number of
//! suspects (about 1% of keys plus the true repeats), not the number of keys.

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

/// Bits per key of the first filter: with 7 probes about 1% false suspects. Each further filter
/// has two bits more per key, so the false suspects of all filters together stay near 1.5%.
const FIRST_BITS_PER_KEY: usize = 10;
const PROBES: u32 = 7;
/// The smallest first filter; each next one holds twice as many keys as the last.
const MIN_CAPACITY: usize = 1 << 20;
/// Bytes per row assumed when sizing the first filter from the input's size: a little below the
/// shortest rows seen in practice, so one filter usually holds the whole source.
const MIN_ROW_BYTES: u64 = 24;

/// A Bloom filter of 512-bit blocks: one block per key, so a lookup touches one cache line.
struct BlockedBloom {
    blocks: Vec<[u64; 8]>,
    capacity: usize,
    len: usize,
}

impl BlockedBloom {
    fn new(capacity: usize, bits_per_key: usize) -> BlockedBloom {
        let blocks = (capacity * bits_per_key).div_ceil(512).max(1);
        BlockedBloom { blocks: vec![[0; 8]; blocks], capacity, len: 0 }
    }

    /// The block a hash falls in, and the bits it sets there (plain loops: this runs once per
    /// staged row).
    fn probes(&self, hash: u64) -> (usize, [u64; 8]) {
        let block = ((hash as u128 * self.blocks.len() as u128) >> 64) as usize;
        let (h1, h2) = ((hash >> 32) as u32, (hash as u32) | 1);
        let mut mask = [0u64; 8];
        for i in 0..PROBES {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) % 512;
            mask[(bit / 64) as usize] |= 1 << (bit % 64);
        }
        (block, mask)
    }

    fn contains(&self, hash: u64) -> bool {
        let (block, mask) = self.probes(hash);
        let words = &self.blocks[block];
        let mut missing = 0;
        for w in 0..8 {
            missing |= mask[w] & !words[w];
        }
        missing == 0
    }

    fn insert(&mut self, hash: u64) {
        let (block, mask) = self.probes(hash);
        for (word, bits) in self.blocks[block].iter_mut().zip(mask) {
            *word |= bits;
        }
        self.len += 1;
    }
}

/// Keys seen so far (approximately) and the hashes of those that may be repeats.
pub struct RepeatFilter {
    filters: Vec<BlockedBloom>,
    suspects: HashSet<u64>,
    hasher: BuildHasherDefault<DefaultHasher>,
}

impl RepeatFilter {
    /// A filter for a source of about `input_bytes` bytes.
    pub fn for_input(input_bytes: u64) -> RepeatFilter {
        let capacity = ((input_bytes / MIN_ROW_BYTES) as usize).max(MIN_CAPACITY);
        RepeatFilter { filters: vec![BlockedBloom::new(capacity, FIRST_BITS_PER_KEY)], suspects: HashSet::new(), hasher: BuildHasherDefault::default() }
    }

    /// Sees a key; a key that may have been seen before becomes a suspect.
    pub fn see(&mut self, key: &str) {
        let hash = self.hasher.hash_one(key);
        if self.filters.iter().any(|f| f.contains(hash)) {
            self.suspects.insert(hash);
            return;
        }
        let last = self.filters.last().expect("one filter at least");
        if last.len >= last.capacity {
            let next = BlockedBloom::new(last.capacity * 2, FIRST_BITS_PER_KEY + 2 * self.filters.len());
            self.filters.push(next);
        }
        self.filters.last_mut().expect("one filter at least").insert(hash);
    }

    /// The suspect keys seen so far, taken out of the filter (to test staged rows against).
    pub fn take_suspects(&mut self) -> Suspects {
        Suspects { hashes: std::mem::take(&mut self.suspects), hasher: self.hasher.clone() }
    }
}

/// The hashes of keys that may repeat an earlier key.
pub struct Suspects {
    hashes: HashSet<u64>,
    hasher: BuildHasherDefault<DefaultHasher>,
}

impl Suspects {
    pub fn contains(&self, key: &str) -> bool {
        self.hashes.contains(&self.hasher.hash_one(key))
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_repeat_is_a_suspect_and_few_others_are() {
        let mut filter = RepeatFilter::for_input(0);
        let n = 3_000_000; // beyond the first filter, so a second one is added
        for i in 0..n {
            filter.see(&format!("K{i}"));
        }
        assert!(filter.filters.len() >= 2);
        for i in (0..n).step_by(1000) {
            filter.see(&format!("K{i}"));
        }
        let false_suspects = filter.suspects.len() - n / 1000;
        let suspects = filter.take_suspects();
        for i in (0..n).step_by(1000) {
            assert!(suspects.contains(&format!("K{i}")));
        }
        assert!(false_suspects < n / 50, "{false_suspects} false suspects of {n} keys");
    }
}
