//! Which `__consumer_offsets` partition coordinates a group.

/// Java's `String.hashCode()`: `s[0]*31^(n-1) + … + s[n-1]` over UTF-16 code units,
/// in wrapping 32-bit arithmetic.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// The partition of `__consumer_offsets` that holds `group_id`, as Kafka computes it:
/// `Utils.abs(groupId.hashCode()) % partitions`, where `Utils.abs(i32::MIN)` is 0.
/// `partitions` below 1 is treated as 1.
pub fn partition_for_group(group_id: &str, partitions: i32) -> i32 {
    let partitions = partitions.max(1);
    // Kafka's Utils.abs: the absolute value, except that i32::MIN (which has none) is 0.
    let hash = java_string_hash(group_id);
    let positive = if hash == i32::MIN { 0 } else { hash.abs() };
    positive % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Java's definition, written out: sum of s[i] * 31^(n-1-i) with wrapping i32.
    fn by_definition(s: &str) -> i32 {
        let units: Vec<u16> = s.encode_utf16().collect();
        let n = units.len();
        let mut sum = 0i32;
        for (i, u) in units.iter().enumerate() {
            let mut pow = 1i32;
            for _ in 0..(n - 1 - i) {
                pow = pow.wrapping_mul(31);
            }
            sum = sum.wrapping_add(i32::from(*u).wrapping_mul(pow));
        }
        sum
    }

    #[test]
    fn hash_matches_known_java_values() {
        // Values printed by Java's "…".hashCode().
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("abc"), 96354);
        assert_eq!(java_string_hash("hello"), 99162322);
        assert_eq!(java_string_hash("my-group"), -1906497762);
        assert_eq!(java_string_hash("console-consumer-40193"), 161164718);
        // Overflowing, negative hash.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
    }

    #[test]
    fn hash_matches_definition_including_non_bmp_text() {
        for s in [
            "",
            "x",
            "console-consumer-1234",
            "grüße",
            "組",
            "😀 emoji",
            "a😀b",
        ] {
            assert_eq!(java_string_hash(s), by_definition(s), "{s}");
        }
        // A character outside the BMP counts as two UTF-16 units.
        assert_eq!(java_string_hash("😀"), 0xD83D * 31 + 0xDE00);
    }

    #[test]
    fn partition_uses_kafka_abs() {
        // hashCode == i32::MIN: Utils.abs gives 0.
        assert_eq!(partition_for_group("polygenelubricants", 50), 0);
        assert_eq!(partition_for_group("abc", 50), 96354 % 50);
        // A negative hash is negated (Math.abs), not masked with 0x7fffffff.
        assert_eq!(partition_for_group("my-group", 50), 1906497762 % 50);
        assert_eq!(partition_for_group("my-group", 50), 12);
        for g in ["a", "b", "group-7", "😀"] {
            let p = partition_for_group(g, 50);
            assert!((0..50).contains(&p));
        }
        assert_eq!(partition_for_group("anything", 0), 0);
    }
}
