//! KIP-392, fetch from the closest replica: with `replica.selector.class` set to
//! Kafka's `RackAwareReplicaSelector` (the one selector Kafka ships, and the only one
//! Moldau takes), a leader sends a consumer that names its rack (`client.rack`, Fetch
//! v11+ `rack_id`) to an in-sync replica in that rack which already has the offset
//! it asks for. The leader keeps serving it when the leader is in that rack, or no
//! such replica exists. Pure: the caller says which followers are in sync and alive.

/// The `replica.selector.class` Moldau takes (Kafka's class name; there is no JVM).
pub const RACK_AWARE_REPLICA_SELECTOR: &str =
    "org.apache.kafka.common.replica.RackAwareReplicaSelector";

/// An in-sync follower on a live broker, as its leader sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadCandidate<'a> {
    pub id: i32,
    pub rack: Option<&'a str>,
    /// Its log end offset as of its last Fetch.
    pub log_end_offset: i64,
}

/// The replica a consumer in `client_rack` should read from instead of the leader
/// (in `leader_rack`), if any: the follower in that rack furthest ahead (the
/// smallest id on a tie), as long as it has `fetch_offset`.
pub fn preferred_read_replica(
    leader_rack: Option<&str>,
    client_rack: &str,
    followers: &[ReadCandidate<'_>],
    fetch_offset: i64,
) -> Option<i32> {
    if client_rack.is_empty() || leader_rack == Some(client_rack) {
        return None;
    }
    followers
        .iter()
        .filter(|f| f.rack == Some(client_rack) && f.log_end_offset >= fetch_offset)
        .max_by_key(|f| (f.log_end_offset, -f.id))
        .map(|f| f.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn follower(id: i32, rack: &str, log_end_offset: i64) -> ReadCandidate<'_> {
        ReadCandidate {
            id,
            rack: Some(rack),
            log_end_offset,
        }
    }

    #[test]
    fn a_follower_in_the_clients_rack_unless_the_leader_is_there() {
        let followers = [follower(2, "b", 10), follower(3, "c", 10)];
        assert_eq!(
            preferred_read_replica(Some("a"), "b", &followers, 5),
            Some(2)
        );
        assert_eq!(
            preferred_read_replica(Some("a"), "c", &followers, 10),
            Some(3)
        );
        assert_eq!(
            preferred_read_replica(Some("b"), "b", &followers, 5),
            None,
            "the leader is in it"
        );
        assert_eq!(
            preferred_read_replica(Some("a"), "d", &followers, 5),
            None,
            "no replica there"
        );
        assert_eq!(
            preferred_read_replica(Some("a"), "", &followers, 5),
            None,
            "no rack named"
        );
    }

    #[test]
    fn only_a_follower_that_has_the_offset_furthest_ahead_first() {
        let followers = [
            follower(2, "b", 10),
            follower(3, "b", 12),
            follower(4, "b", 12),
        ];
        assert_eq!(preferred_read_replica(None, "b", &followers, 11), Some(3));
        assert_eq!(
            preferred_read_replica(None, "b", &followers, 13),
            None,
            "none has it yet"
        );
        let unracked = [ReadCandidate {
            id: 5,
            rack: None,
            log_end_offset: 20,
        }];
        assert_eq!(preferred_read_replica(Some("a"), "b", &unracked, 0), None);
    }
}
