//! DeleteTopics as the active controller decides it: against its own image, so a
//! topic another broker created a moment ago is found (by name or by id) though the
//! receiving broker's image lags, and two brokers deleting one topic at once remove
//! it once (the later request finds it gone).

use super::ControllerError;
use crate::{MetadataImage, MetadataRecord, TopicId};
use moldau_protocol::ResponseError;
use std::collections::BTreeSet;

/// One topic to delete, named by its name, its id, or both (a name the receiving
/// broker resolved from the client's id: the id must still be that topic's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDeletion {
    pub name: Option<String>,
    pub id: Option<TopicId>,
}

/// One topic's answer, in the order asked: the name and id as the controller found
/// them (the asked ones when it found nothing).
#[derive(Debug, Clone, PartialEq)]
pub struct TopicDeletionOutcome {
    pub name: Option<String>,
    pub id: Option<TopicId>,
    pub result: Result<(), ControllerError>,
}

/// Decides `deletions` against `image`, each seeing the ones before it.
/// `check_deletable`: whether a client may delete a topic of that name (internal
/// topics may not), asked once the topic is found.
pub fn delete_topics(
    image: &MetadataImage,
    deletions: &[TopicDeletion],
    check_deletable: &(dyn Fn(&str) -> Result<(), ControllerError> + Sync),
) -> (Vec<MetadataRecord>, Vec<TopicDeletionOutcome>) {
    let mut removed = BTreeSet::new();
    let mut records = Vec::new();
    let mut outcomes = Vec::with_capacity(deletions.len());
    for deletion in deletions {
        let outcome = match find(image, deletion, &removed) {
            Ok((name, id)) => {
                let result = check_deletable(&name);
                if result.is_ok() {
                    removed.insert(id);
                    records.push(MetadataRecord::RemoveTopic { id });
                }
                TopicDeletionOutcome {
                    name: Some(name),
                    id: Some(id),
                    result,
                }
            }
            Err(refused) => TopicDeletionOutcome {
                name: deletion.name.clone(),
                id: deletion.id,
                result: Err(refused),
            },
        };
        outcomes.push(outcome);
    }
    (records, outcomes)
}

/// The topic `deletion` names in `image` (not yet removed by this request).
fn find(
    image: &MetadataImage,
    deletion: &TopicDeletion,
    removed: &BTreeSet<TopicId>,
) -> Result<(String, TopicId), ControllerError> {
    let unknown_id = || ControllerError::new(ResponseError::UnknownTopicId, "Unknown topic id.");
    let topic = match (&deletion.name, &deletion.id) {
        (Some(name), asked_id) => {
            let topic = image.topic(name).filter(|t| !removed.contains(&t.id));
            match (topic, asked_id) {
                // Asked by id: the topic of that name now is another one (deleted
                // and created again), so the id asked for is gone.
                (Some(t), Some(id)) if t.id != *id => return Err(unknown_id()),
                (Some(t), _) => t,
                (None, Some(_)) => return Err(unknown_id()),
                (None, None) => {
                    return Err(ControllerError::new(
                        ResponseError::UnknownTopicOrPartition,
                        format!("Topic '{name}' does not exist."),
                    ))
                }
            }
        }
        (None, Some(id)) => image
            .topic_by_id(id)
            .filter(|t| !removed.contains(&t.id))
            .ok_or_else(unknown_id)?,
        (None, None) => {
            return Err(ControllerError::new(
                ResponseError::InvalidRequest,
                "A topic to delete needs a name or an id.",
            ))
        }
    };
    Ok((topic.name.clone(), topic.id))
}
