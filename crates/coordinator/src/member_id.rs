//! Where new member ids come from. Kafka names a member `<client.id>-<random UUID>`;
//! the random part comes through [`MemberIdSource`] so tests can fix it.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// Supplies the unique suffix of new member ids.
pub trait MemberIdSource: Send {
    /// A fresh suffix, different from every earlier one (Kafka uses a random UUID).
    fn next_suffix(&mut self) -> String;
}

/// UUID-shaped suffixes from a SplitMix64 sequence: deterministic for a given seed.
#[derive(Debug, Clone)]
pub struct SeededMemberIds {
    state: u64,
}

impl SeededMemberIds {
    /// A sequence fixed by `seed` (for tests and reproducible runs).
    pub fn new(seed: u64) -> Self {
        SeededMemberIds { state: seed }
    }

    /// A sequence seeded from the process's hash randomness, so ids differ across
    /// restarts (a fixed seed would repeat ids that the log still remembers).
    pub fn from_entropy() -> Self {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(0x6d6f_6c64_6175);
        SeededMemberIds::new(hasher.finish())
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl MemberIdSource for SeededMemberIds {
    fn next_suffix(&mut self) -> String {
        let hi = self.next_u64();
        let lo = self.next_u64();
        // Version-4 / variant-1 bits, as java.util.UUID.randomUUID() sets them.
        let hi = (hi & !0xF000) | 0x4000;
        let lo = (lo & !(0xC000_0000_0000_0000)) | 0x8000_0000_0000_0000;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xFFFF,
            hi & 0xFFFF,
            lo >> 48,
            lo & 0xFFFF_FFFF_FFFF
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_ids_are_uuid_shaped_distinct_and_reproducible() {
        let mut a = SeededMemberIds::new(7);
        let mut b = SeededMemberIds::new(7);
        let first = a.next_suffix();
        assert_eq!(first, b.next_suffix());
        assert_ne!(first, a.next_suffix());
        assert_eq!(first.len(), 36);
        let parts: Vec<&str> = first.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
    }
}
