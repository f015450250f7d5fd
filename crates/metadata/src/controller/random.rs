//! Randomness behind a trait, so placement's random start can be fixed in tests.

/// A source of uniformly distributed indexes.
pub trait RandomSource {
    /// A number in `0..bound`; `bound` is at least 1.
    fn next_below(&mut self, bound: usize) -> usize;
}

/// SplitMix64: small, fast and good enough to pick a start broker; the same seed gives
/// the same sequence.
#[derive(Debug, Clone)]
pub struct SeededRandom {
    state: u64,
}

impl SeededRandom {
    pub fn new(seed: u64) -> Self {
        SeededRandom { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl RandomSource for SeededRandom {
    fn next_below(&mut self, bound: usize) -> usize {
        assert!(bound > 0, "next_below needs a positive bound");
        // The modulo bias is below 2^-50 for any broker count: irrelevant here.
        (self.next_u64() % bound as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_within_bound() {
        let mut a = SeededRandom::new(42);
        let mut b = SeededRandom::new(42);
        for bound in 1..50 {
            let x = a.next_below(bound);
            assert_eq!(x, b.next_below(bound));
            assert!(x < bound);
        }
    }
}
