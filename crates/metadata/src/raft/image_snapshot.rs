//! A snapshot's body: the metadata image as the list of records that recreate it.
//! Kept behind these two functions so that the `.checkpoint` snapshot files of
//! docs/format/cluster-metadata.md can replace it in one place.

use crate::raft::record_list::{decode_record_list, encode_record_list};
use crate::{MetadataError, MetadataImage};

/// The records that rebuild `image` from empty ([`MetadataImage::to_records`]),
/// encoded as a record list.
pub fn image_to_snapshot_bytes(image: &MetadataImage) -> Result<Vec<u8>, MetadataError> {
    encode_record_list(&image.to_records())
}

/// The image a snapshot body describes, as of Raft index `offset`.
pub fn image_from_snapshot_bytes(
    bytes: &[u8],
    offset: i64,
) -> Result<MetadataImage, MetadataError> {
    let mut image = MetadataImage::new();
    for record in decode_record_list(bytes)? {
        image.apply(&record, offset)?;
    }
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_records::{broker, partition, topic, topic_config};
    use crate::{ConfigResource, MetadataRecord, TopicId};

    #[test]
    fn image_survives_a_snapshot_round_trip() {
        let mut image = MetadataImage::new();
        let id = TopicId([9; 16]);
        let records = [
            MetadataRecord::FeatureLevel {
                name: "metadata.version".into(),
                level: 7,
            },
            broker(1, 10),
            broker(2, 11),
            MetadataRecord::UnfenceBroker {
                broker_id: 2,
                broker_epoch: 11,
            },
            topic("t", id),
            partition(id, 0, &[1, 2]),
            partition(id, 1, &[2, 1]),
            topic_config("t", "retention.ms", Some("5")),
            MetadataRecord::Config {
                resource: ConfigResource::Broker(None),
                name: "log.retention.ms".into(),
                value: Some("9".into()),
            },
            MetadataRecord::Config {
                resource: ConfigResource::Broker(Some(7)),
                name: "x".into(),
                value: Some("y".into()),
            },
            MetadataRecord::ProducerIds {
                broker_id: 1,
                broker_epoch: 10,
                next_producer_id: 2000,
            },
        ];
        for (i, r) in records.iter().enumerate() {
            image.apply(r, i as i64).unwrap();
        }
        let last = records.len() as i64 - 1;
        let restored =
            image_from_snapshot_bytes(&image_to_snapshot_bytes(&image).unwrap(), last).unwrap();
        assert_eq!(restored, image);
    }
}
