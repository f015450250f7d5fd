//! Encodes a Produce request body as pieces: the small framing bytes, and each
//! record batch as it is (shared, not copied). Byte-identical to the `kafka-protocol`
//! encoder's output, which the tests check for every version the client speaks.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use moldau_protocol::varint::put_uvarint;

/// First Produce version with flexible (compact, tagged) encoding.
const FIRST_FLEXIBLE_VERSION: i16 = 9;

/// One topic's batches: partition index and encoded batch.
pub(crate) type TopicBatches = (Arc<str>, Vec<(i32, Bytes)>);

fn put_len(buf: &mut BytesMut, flexible: bool, len: usize, short: bool) {
    if flexible {
        put_uvarint(buf, len as u32 + 1);
    } else if short {
        buf.put_i16(len as i16);
    } else {
        buf.put_i32(len as i32);
    }
}

/// The body pieces of a Produce request; a transactional producer names its
/// transactional id (a leader adds the partition to a transaction version 2
/// producer's transaction from it).
pub(crate) fn encode_produce(
    version: i16,
    transactional_id: Option<&str>,
    acks: i16,
    timeout_ms: i32,
    topics: &[TopicBatches],
) -> Vec<Bytes> {
    let flexible = version >= FIRST_FLEXIBLE_VERSION;
    let mut parts = Vec::with_capacity(topics.iter().map(|t| t.1.len() * 2).sum::<usize>() + 1);
    let mut cur = BytesMut::with_capacity(128);
    match transactional_id {
        Some(id) => {
            put_len(&mut cur, flexible, id.len(), true);
            cur.put_slice(id.as_bytes());
        }
        None if flexible => put_uvarint(&mut cur, 0),
        None => cur.put_i16(-1),
    }
    cur.put_i16(acks);
    cur.put_i32(timeout_ms);
    put_len(&mut cur, flexible, topics.len(), false);
    for (name, partitions) in topics {
        put_len(&mut cur, flexible, name.len(), true);
        cur.put_slice(name.as_bytes());
        put_len(&mut cur, flexible, partitions.len(), false);
        for (index, records) in partitions {
            cur.put_i32(*index);
            put_len(&mut cur, flexible, records.len(), false);
            parts.push(cur.split().freeze());
            parts.push(records.clone());
            if flexible {
                put_uvarint(&mut cur, 0); // partition tagged fields
            }
        }
        if flexible {
            put_uvarint(&mut cur, 0); // topic tagged fields
        }
    }
    if flexible {
        put_uvarint(&mut cur, 0); // request tagged fields
    }
    parts.push(cur.freeze());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::topic_name;
    use moldau_protocol::kafka::messages::produce_request::{
        PartitionProduceData, TopicProduceData,
    };
    use moldau_protocol::kafka::messages::ProduceRequest;
    use moldau_protocol::kafka::protocol::Encodable;

    #[test]
    fn matches_the_message_crate_for_every_version() {
        let batch = |n: u8| Bytes::from(vec![n; 300 + n as usize]);
        let topics: Vec<TopicBatches> = vec![
            (Arc::from("alpha"), vec![(0, batch(1)), (3, batch(2))]),
            (Arc::from("b"), vec![(1, batch(3))]),
        ];
        for (version, id) in (3..=12).flat_map(|v| [(v, None), (v, Some("tx-1"))]) {
            let ours: Vec<u8> = encode_produce(version, id, -1, 30_000, &topics)
                .iter()
                .flat_map(|b| b.iter().copied())
                .collect();
            let req = ProduceRequest::default()
                .with_transactional_id(id.map(|i| {
                    moldau_protocol::kafka::messages::TransactionalId(
                        moldau_protocol::kafka::protocol::StrBytes::from_static_str(i),
                    )
                }))
                .with_acks(-1)
                .with_timeout_ms(30_000)
                .with_topic_data(
                    topics
                        .iter()
                        .map(|(name, ps)| {
                            TopicProduceData::default()
                                .with_name(topic_name(name))
                                .with_partition_data(
                                    ps.iter()
                                        .map(|(i, r)| {
                                            PartitionProduceData::default()
                                                .with_index(*i)
                                                .with_records(Some(r.clone()))
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                );
            let mut theirs = BytesMut::new();
            req.encode(&mut theirs, version).unwrap();
            assert_eq!(ours, theirs.to_vec(), "version {version}");
        }
    }
}
