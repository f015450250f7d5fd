//! The cluster id of a multi-node cluster started without one: derived from its
//! voter set, so every node given the same `controller.quorum.voters` formats its
//! data directory for the same cluster (and the controller, which refuses a broker of
//! another cluster id, accepts them). A directory formatted for another cluster is
//! still refused. A lone node keeps a random id.

use crate::quorum_voters::QuorumVoter;
use moldau_log::properties_file::uuid_to_kafka_string;

const FNV128_OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
const FNV128_PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

fn fnv1a_128(bytes: &[u8]) -> u128 {
    bytes.iter().fold(FNV128_OFFSET, |hash, b| {
        (hash ^ u128::from(*b)).wrapping_mul(FNV128_PRIME)
    })
}

/// The id for `voters` when there are several, else none (a lone node takes a random
/// one). Never one Kafka would not print: starting with '-' or all zero.
pub fn cluster_id_from_voters(voters: &[QuorumVoter]) -> Option<String> {
    if voters.len() < 2 {
        return None;
    }
    let mut names: Vec<String> = voters
        .iter()
        .map(|v| format!("{}@{}:{}", v.id, v.host, v.port))
        .collect();
    names.sort();
    let mut text = format!("moldau-cluster:{}", names.join(","));
    loop {
        let id = uuid_to_kafka_string(&fnv1a_128(text.as_bytes()).to_be_bytes());
        if !id.starts_with('-') && id != uuid_to_kafka_string(&[0; 16]) {
            return Some(id);
        }
        text.push('+');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quorum_voters::parse_voters;
    use moldau_log::properties_file::uuid_from_kafka_string;

    #[test]
    fn the_same_voters_in_any_order_give_the_same_kafka_style_id() {
        let a = cluster_id_from_voters(&parse_voters("1@h:1,2@h:2,3@h:3").unwrap()).unwrap();
        let b = cluster_id_from_voters(&parse_voters("3@h:3,1@h:1,2@h:2").unwrap()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 22);
        assert!(uuid_from_kafka_string(&a).is_some());
        let other = cluster_id_from_voters(&parse_voters("1@h:1,2@h:2,3@h:4").unwrap()).unwrap();
        assert_ne!(a, other);
        assert_eq!(
            cluster_id_from_voters(&parse_voters("1@h:1").unwrap()),
            None
        );
    }
}
