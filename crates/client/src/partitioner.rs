//! Choosing a partition. Keyed records use the Java client's rule,
//! `toPositive(murmur2(key)) % numPartitions`, so a key lands on the same partition
//! whichever client wrote it. Keyless records stick to one partition until its batch
//! is sealed, then move on (KIP-480), which fills batches instead of scattering them.

use std::collections::HashMap;

use rand::Rng;

/// Seed of the Java client's murmur2.
const MURMUR2_SEED: u32 = 0x9747_b28c;
const MURMUR2_M: u32 = 0x5bd1_e995;
const MURMUR2_R: u32 = 24;

/// The 32-bit murmur2 hash exactly as Kafka's Java client computes it
/// (`org.apache.kafka.common.utils.Utils.murmur2`), as a signed value.
pub fn murmur2(data: &[u8]) -> i32 {
    let len = data.len();
    let mut h: u32 = MURMUR2_SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(MURMUR2_M);
        k ^= k >> MURMUR2_R;
        k = k.wrapping_mul(MURMUR2_M);
        h = h.wrapping_mul(MURMUR2_M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= (tail[2] as u32) << 16;
    }
    if tail.len() >= 2 {
        h ^= (tail[1] as u32) << 8;
    }
    if !tail.is_empty() {
        h ^= tail[0] as u32;
        h = h.wrapping_mul(MURMUR2_M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(MURMUR2_M);
    h ^= h >> 15;
    h as i32
}

/// The Java client's partition for a keyed record.
pub fn partition_for_key(key: &[u8], partition_count: usize) -> i32 {
    let positive = (murmur2(key) & 0x7fff_ffff) as u32;
    (positive % partition_count.max(1) as u32) as i32
}

/// Sticky choice for keyless records, per topic.
#[derive(Debug, Default)]
pub struct StickyPartitioner {
    current: HashMap<String, i32>,
}

impl StickyPartitioner {
    /// The current sticky partition of `topic`, if one is chosen and still valid.
    pub fn current(&self, topic: &str, partition_count: usize) -> Option<i32> {
        self.current
            .get(topic)
            .copied()
            .filter(|&p| (p as usize) < partition_count)
    }

    /// The partition keyless records of `topic` currently go to. `available` lists
    /// partitions that have a leader; when empty, any of `partition_count` is used.
    pub fn partition(&mut self, topic: &str, partition_count: usize, available: &[i32]) -> i32 {
        if let Some(&p) = self.current.get(topic) {
            if (p as usize) < partition_count && (available.is_empty() || available.contains(&p)) {
                return p;
            }
        }
        let p = pick(partition_count, available, None);
        self.current.insert(topic.to_string(), p);
        p
    }

    /// Called when the batch for `previous` was sealed: move keyless records of
    /// `topic` to another partition (if there is one).
    pub fn on_new_batch(
        &mut self,
        topic: &str,
        previous: i32,
        partition_count: usize,
        available: &[i32],
    ) {
        if self.current.get(topic) != Some(&previous) {
            return;
        }
        let p = pick(partition_count, available, Some(previous));
        self.current.insert(topic.to_string(), p);
    }
}

fn pick(partition_count: usize, available: &[i32], avoid: Option<i32>) -> i32 {
    let mut rng = rand::thread_rng();
    let from_available = !available.is_empty();
    let n = if from_available {
        available.len()
    } else {
        partition_count.max(1)
    };
    let choose = |i: usize| {
        if from_available {
            available[i]
        } else {
            i as i32
        }
    };
    if n == 1 {
        return choose(0);
    }
    loop {
        let p = choose(rng.gen_range(0..n));
        if Some(p) != avoid {
            return p;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_java_client_values() {
        // Values from Kafka's own tests of Utils.murmur2 and librdkafka's rdmurmur2.
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
            (b"string-f-24-chars-length", 124730809),
            (b"string-fo-25-chars-length", 1269511650),
            (b"string-foo-26-chars-length", 119165628),
            (b"string-last-27-chars-length", 1089971754),
            (b"kafka", 0xd067cf64u32 as i32),
        ];
        for (input, expected) in cases {
            assert_eq!(
                murmur2(input),
                *expected,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn key_partition_is_positive_modulo() {
        // murmur2("foobar") is negative; toPositive masks the sign bit.
        let expected = ((-790332482i32 & 0x7fff_ffff) as u32 % 7) as i32;
        assert_eq!(partition_for_key(b"foobar", 7), expected);
        for n in 1..20 {
            let p = partition_for_key(b"some-key", n);
            assert!(p >= 0 && (p as usize) < n);
        }
    }

    #[test]
    fn sticky_stays_until_new_batch_then_moves() {
        let mut s = StickyPartitioner::default();
        let first = s.partition("t", 4, &[]);
        for _ in 0..10 {
            assert_eq!(s.partition("t", 4, &[]), first);
        }
        s.on_new_batch("t", first, 4, &[]);
        let second = s.partition("t", 4, &[]);
        assert_ne!(first, second);
        // A sealed batch of a partition that is no longer sticky changes nothing.
        s.on_new_batch("t", first, 4, &[]);
        assert_eq!(s.partition("t", 4, &[]), second);
    }

    #[test]
    fn sticky_prefers_available_partitions() {
        let mut s = StickyPartitioner::default();
        for _ in 0..20 {
            let p = s.partition("t", 10, &[3]);
            assert_eq!(p, 3);
        }
        assert_eq!(s.partition("solo", 1, &[]), 0);
        s.on_new_batch("solo", 0, 1, &[]);
        assert_eq!(s.partition("solo", 1, &[]), 0);
    }
}
