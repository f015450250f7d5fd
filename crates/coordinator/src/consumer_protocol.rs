//! Just enough of the consumer embedded protocol (`protocol_type = "consumer"`) to know
//! which topics a group subscribes to and to print assignments. Parsed with the
//! bounds-checked [`Reader`], because these bytes come from clients.

use crate::wire::{Reader, RecordError};

/// Protocol type of Kafka consumer groups.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";
/// Smallest encoding of a topic entry (empty name and empty partition list).
const TOPIC_PARTITIONS_BYTES_MIN: usize = 2 + 4;

/// Topics of a `ConsumerProtocolSubscription` (any version: the topic list is always
/// the first field after the version).
pub fn subscription_topics(metadata: &[u8]) -> Result<Vec<String>, RecordError> {
    let mut r = Reader::new(metadata);
    let version = r.i16()?;
    if version < 0 {
        return Err(RecordError::UnsupportedVersion {
            what: "consumer subscription",
            version,
        });
    }
    let count = r.array_len(2)?;
    (0..count).map(|_| r.string()).collect()
}

/// What a `ConsumerProtocolSubscription` says besides its topics: its version, the
/// partitions the member owns (v1+) and its rack (v3+).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionDetails {
    pub version: i16,
    pub owned: Vec<(String, Vec<i32>)>,
    pub rack_id: Option<String>,
}

/// Version, owned partitions and rack of a `ConsumerProtocolSubscription`; fields
/// missing from a short (older) encoding are left empty.
pub fn subscription_details(metadata: &[u8]) -> Result<SubscriptionDetails, RecordError> {
    let mut r = Reader::new(metadata);
    let version = r.i16()?;
    if version < 0 {
        return Err(RecordError::UnsupportedVersion {
            what: "consumer subscription",
            version,
        });
    }
    let count = r.array_len(2)?;
    for _ in 0..count {
        r.string()?;
    }
    let mut details = SubscriptionDetails {
        version,
        ..SubscriptionDetails::default()
    };
    if r.remaining() == 0 {
        return Ok(details);
    }
    let user_data_bytes = r.i32()?;
    if user_data_bytes > 0 {
        r.skip(user_data_bytes as usize)?;
    }
    if version < 1 || r.remaining() == 0 {
        return Ok(details);
    }
    let topics = r.array_len(TOPIC_PARTITIONS_BYTES_MIN)?;
    for _ in 0..topics {
        let topic = r.string()?;
        let n = r.array_len(4)?;
        let partitions = (0..n).map(|_| r.i32()).collect::<Result<Vec<_>, _>>()?;
        details.owned.push((topic, partitions));
    }
    if version >= 2 && r.remaining() >= 4 {
        let _generation = r.i32()?;
    }
    if version >= 3 && r.remaining() > 0 {
        details.rack_id = r.nullable_string()?;
    }
    Ok(details)
}

/// Topic partitions of a `ConsumerProtocolAssignment` (any version).
pub fn assignment_partitions(assignment: &[u8]) -> Result<Vec<(String, Vec<i32>)>, RecordError> {
    let mut r = Reader::new(assignment);
    let version = r.i16()?;
    if version < 0 {
        return Err(RecordError::UnsupportedVersion {
            what: "consumer assignment",
            version,
        });
    }
    let count = r.array_len(TOPIC_PARTITIONS_BYTES_MIN)?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let topic = r.string()?;
        let n = r.array_len(4)?;
        let partitions = (0..n).map(|_| r.i32()).collect::<Result<Vec<_>, _>>()?;
        out.push((topic, partitions));
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A v0 subscription to `topics`.
    pub(crate) fn subscription(topics: &[&str]) -> Vec<u8> {
        let mut b = vec![0, 0];
        b.extend_from_slice(&(topics.len() as i32).to_be_bytes());
        for t in topics {
            b.extend_from_slice(&(t.len() as i16).to_be_bytes());
            b.extend_from_slice(t.as_bytes());
        }
        b.extend_from_slice(&(-1i32).to_be_bytes()); // null user data
        b
    }

    /// A v0 assignment of `parts`.
    pub(crate) fn assignment(parts: &[(&str, &[i32])]) -> Vec<u8> {
        let mut b = vec![0, 0];
        b.extend_from_slice(&(parts.len() as i32).to_be_bytes());
        for (t, ps) in parts {
            b.extend_from_slice(&(t.len() as i16).to_be_bytes());
            b.extend_from_slice(t.as_bytes());
            b.extend_from_slice(&(ps.len() as i32).to_be_bytes());
            for p in *ps {
                b.extend_from_slice(&p.to_be_bytes());
            }
        }
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b
    }

    #[test]
    fn parses_topics_and_assignments() {
        assert_eq!(
            subscription_topics(&subscription(&["a", "bb"])),
            Ok(vec!["a".to_string(), "bb".to_string()])
        );
        assert_eq!(
            assignment_partitions(&assignment(&[("a", &[0, 2])])),
            Ok(vec![("a".to_string(), vec![0, 2])])
        );
        assert!(subscription_topics(&[0, 0, 0x7f, 0, 0, 0]).is_err());
        let mut v3 = vec![0, 3];
        v3.extend_from_slice(&subscription(&["a"])[2..]);
        v3.extend_from_slice(&[0, 0, 0, 1, 0, 1, b'a', 0, 0, 0, 1, 0, 0, 0, 2]);
        v3.extend_from_slice(&[0, 0, 0, 7, 0, 2, b'r', b'1']);
        let details = subscription_details(&v3);
        assert_eq!(
            details,
            Ok(SubscriptionDetails {
                version: 3,
                owned: vec![("a".to_string(), vec![2])],
                rack_id: Some("r1".into()),
            })
        );
        assert_eq!(
            subscription_details(&subscription(&["a"])).map(|d| d.owned),
            Ok(vec![])
        );
        for cut in 2..v3.len() - 1 {
            // A cut inside a field is an error, never a panic.
            let _ = subscription_details(&v3[..cut]);
        }
        assert!(subscription_topics(&[]).is_err());
        assert!(assignment_partitions(&[0, 1, 0, 0, 0, 1, 0, 1, b'a', 0x7f, 0, 0, 0]).is_err());
    }
}
