//! Choosing a partition. Keyed records use the Java client's rule,
//! `toPositive(murmur2(key)) % numPartitions`, so a key lands on the same partition
//! whichever client wrote it. Keyless records stick to one partition until `batch.size`
//! bytes went to it, then move to the next partition in turn (KIP-480/794), which
//! fills batches instead of scattering them and spreads records evenly.

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

/// Sticky choice for keyless records, per topic (Kafka's built-in partitioner,
/// KIP-480/794): records stick to one partition until `batch.size` bytes went to it,
/// then move to the next available partition in turn, so every partition gets the
/// same share whether or not batches fill before `linger.ms`.
#[derive(Debug, Default)]
pub struct StickyPartitioner {
    current: HashMap<String, Sticky>,
}

/// Where a topic's keyless records go now, and how much went there so far.
#[derive(Debug, Clone, Copy)]
struct Sticky {
    partition: i32,
    produced_bytes: usize,
}

impl StickyPartitioner {
    /// The current sticky partition of `topic`, if one is chosen and still valid.
    pub fn current(&self, topic: &str, partition_count: usize) -> Option<i32> {
        self.current
            .get(topic)
            .map(|s| s.partition)
            .filter(|&p| (p as usize) < partition_count)
    }

    /// The partition keyless records of `topic` currently go to. `available` lists
    /// partitions that have a leader; when empty, any of `partition_count` is used.
    /// The first choice is random, so that many producers do not all start together.
    pub fn partition(&mut self, topic: &str, partition_count: usize, available: &[i32]) -> i32 {
        if let Some(s) = self.current.get(topic) {
            let p = s.partition;
            if (p as usize) < partition_count && (available.is_empty() || available.contains(&p)) {
                return p;
            }
        }
        let p = pick_random(partition_count, available);
        self.current.insert(
            topic.to_string(),
            Sticky {
                partition: p,
                produced_bytes: 0,
            },
        );
        p
    }

    /// Counts `bytes` appended to `partition` of `topic`; once `sticky_bytes`
    /// (`batch.size`) went to the sticky partition, keyless records move on to the
    /// next one. `available` is asked only then.
    pub fn record_appended(
        &mut self,
        topic: &str,
        partition: i32,
        bytes: usize,
        sticky_bytes: usize,
        partition_count: usize,
        available: impl FnOnce() -> Vec<i32>,
    ) {
        let Some(s) = self.current.get_mut(topic) else {
            return;
        };
        if s.partition != partition {
            return;
        }
        s.produced_bytes = s.produced_bytes.saturating_add(bytes);
        if s.produced_bytes >= sticky_bytes.max(1) {
            *s = Sticky {
                partition: next_after(partition, partition_count, &available()),
                produced_bytes: 0,
            };
        }
    }

    /// Called when the batch for `previous` was full: move keyless records of
    /// `topic` to the next partition (if there is one).
    pub fn on_new_batch(
        &mut self,
        topic: &str,
        previous: i32,
        partition_count: usize,
        available: &[i32],
    ) {
        let Some(s) = self.current.get_mut(topic) else {
            return;
        };
        if s.partition != previous {
            return;
        }
        *s = Sticky {
            partition: next_after(previous, partition_count, available),
            produced_bytes: 0,
        };
    }
}

/// A random partition among `available` (any of `partition_count` when empty).
fn pick_random(partition_count: usize, available: &[i32]) -> i32 {
    let mut rng = rand::thread_rng();
    if available.is_empty() {
        rng.gen_range(0..partition_count.max(1)) as i32
    } else {
        available[rng.gen_range(0..available.len())]
    }
}

/// The partition after `previous` in turn: the next available one in index order,
/// wrapping around (any of `partition_count` when none is listed as available).
fn next_after(previous: i32, partition_count: usize, available: &[i32]) -> i32 {
    if available.is_empty() {
        let n = partition_count.max(1) as i64;
        return ((i64::from(previous) + 1).rem_euclid(n)) as i32;
    }
    available
        .iter()
        .copied()
        .filter(|&p| p > previous)
        .min()
        .or_else(|| available.iter().copied().min())
        .unwrap_or(previous)
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
    fn sticky_stays_until_new_batch_then_moves_to_the_next() {
        let mut s = StickyPartitioner::default();
        let first = s.partition("t", 4, &[]);
        for _ in 0..10 {
            assert_eq!(s.partition("t", 4, &[]), first);
        }
        s.on_new_batch("t", first, 4, &[]);
        let second = s.partition("t", 4, &[]);
        assert_eq!(second, (first + 1) % 4);
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
        assert_eq!(next_after(7, 10, &[2, 5, 7]), 2, "wraps around");
        assert_eq!(next_after(2, 10, &[2, 5, 7]), 5);
    }

    #[test]
    fn batch_size_bytes_rotate_through_every_partition_evenly() {
        // Batches never fill (a sender draining every linger.ms): the bytes count
        // still moves the records on, so three partitions get equal shares.
        let mut s = StickyPartitioner::default();
        let mut per_partition = [0u32; 3];
        for _ in 0..30_000 {
            let p = s.partition("t", 3, &[]);
            per_partition[p as usize] += 1;
            s.record_appended("t", p, 100, 16_384, 3, Vec::new);
        }
        for n in per_partition {
            assert!((9_800..=10_200).contains(&n), "{per_partition:?}");
        }
    }
}
