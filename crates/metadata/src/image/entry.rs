//! Applying one metadata log entry: all of its records or none.

use super::MetadataImage;
use crate::delta::MetadataDelta;
use crate::record_types::ConfigResource;
use crate::{MetadataError, MetadataRecord, TopicId};
use std::collections::HashSet;

impl MetadataImage {
    /// Applies the records of one log entry at `offset`, all or none: when one is
    /// refused the image is left as it was.
    pub fn apply_entry(
        &mut self,
        records: &[MetadataRecord],
        offset: i64,
    ) -> Result<(), MetadataError> {
        match records {
            // One record is all-or-none already.
            [record] => self.apply(record, offset),
            _ if only_new_topics(records) => self.apply_new_topics(records, offset),
            _ => {
                let mut next = self.clone();
                for record in records {
                    next.apply(record, offset)?;
                }
                *self = next;
                Ok(())
            }
        }
    }

    /// New topics' records (every CreateTopics entry) apply in place, and a
    /// refusal takes the topics created so far out again: none existed before. A
    /// copy of the image per entry made replaying N creations cost N images (18 s
    /// of a start after creating 100 000 partitions).
    fn apply_new_topics(
        &mut self,
        records: &[MetadataRecord],
        offset: i64,
    ) -> Result<(), MetadataError> {
        let last_offset = self.last_offset;
        let mut created: Vec<TopicId> = Vec::new();
        for record in records {
            if let Err(refused) = self.apply(record, offset) {
                for id in created {
                    let removal = MetadataRecord::RemoveTopic { id };
                    let removed =
                        self.apply_to_delta(&removal, offset, &mut MetadataDelta::default());
                    debug_assert!(removed.is_ok(), "a topic just created is removable");
                }
                self.last_offset = last_offset;
                return Err(refused);
            }
            if let MetadataRecord::Topic { id, .. } = record {
                created.push(*id);
            }
        }
        Ok(())
    }
}

/// Whether `records` are only TopicRecords, each followed by partitions and configs
/// of topics created earlier in the same records.
fn only_new_topics(records: &[MetadataRecord]) -> bool {
    let mut ids = HashSet::new();
    let mut names = HashSet::new();
    for record in records {
        match record {
            MetadataRecord::Topic { name, id } => {
                ids.insert(*id);
                names.insert(name.as_str());
            }
            MetadataRecord::Partition(p) if ids.contains(&p.topic_id) => {}
            MetadataRecord::Config {
                resource: ConfigResource::Topic(topic),
                ..
            } if names.contains(topic.as_str()) => {}
            _ => return false,
        }
    }
    true
}
