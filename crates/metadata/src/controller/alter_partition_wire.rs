//! AlterPartition's Kafka encoding (api key 56, v2: topic ids, the new ISR as broker
//! ids), one partition per request, as a partition leader sends it to the active
//! controller and is answered.

use crate::controller::alter_partition::{AlterPartitionOutcome, AlterPartitionRequest};
use crate::controller::ControllerError;
use crate::TopicId;
use moldau_protocol::kafka::messages::alter_partition_request::{
    PartitionData as RequestPartition, TopicData as RequestTopic,
};
use moldau_protocol::kafka::messages::alter_partition_response::{
    PartitionData as ResponsePartition, TopicData as ResponseTopic,
};
use moldau_protocol::kafka::messages::{
    AlterPartitionRequest as WireRequest, AlterPartitionResponse as WireResponse, BrokerId,
};
use moldau_protocol::ResponseError;

/// The AlterPartition version leaders send and the controller reads.
pub const ALTER_PARTITION_VERSION: i16 = 2;

/// The partition's state in the controller's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterPartitionReply {
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub isr: Vec<i32>,
}

impl From<&AlterPartitionOutcome> for AlterPartitionReply {
    fn from(o: &AlterPartitionOutcome) -> Self {
        AlterPartitionReply {
            leader: o.leader,
            leader_epoch: o.leader_epoch,
            partition_epoch: o.partition_epoch,
            isr: o.isr.clone(),
        }
    }
}

impl AlterPartitionRequest {
    pub fn to_wire(&self) -> WireRequest {
        let partition = RequestPartition::default()
            .with_partition_index(self.partition)
            .with_leader_epoch(self.leader_epoch)
            .with_new_isr(self.new_isr.iter().map(|b| BrokerId(*b)).collect())
            .with_partition_epoch(self.partition_epoch);
        WireRequest::default()
            .with_broker_id(BrokerId(self.broker_id))
            .with_broker_epoch(self.broker_epoch)
            .with_topics(vec![RequestTopic::default()
                .with_topic_id(self.topic_id.as_uuid())
                .with_partitions(vec![partition])])
    }

    /// The one partition a request must carry.
    pub fn from_wire(w: &WireRequest) -> Result<Self, ControllerError> {
        let invalid = || {
            ControllerError::new(
                ResponseError::InvalidRequest,
                "an AlterPartition request carries exactly one partition",
            )
        };
        let [topic] = w.topics.as_slice() else {
            return Err(invalid());
        };
        let [p] = topic.partitions.as_slice() else {
            return Err(invalid());
        };
        Ok(AlterPartitionRequest {
            broker_id: w.broker_id.0,
            broker_epoch: w.broker_epoch,
            topic_id: TopicId(*topic.topic_id.as_bytes()),
            partition: p.partition_index,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            new_isr: p.new_isr.iter().map(|b| b.0).collect(),
        })
    }
}

/// The response to `request` decided as `result` (a refusal is the partition's
/// error code; the message is not on the wire).
pub fn alter_partition_response(
    request: &AlterPartitionRequest,
    result: &Result<AlterPartitionReply, ControllerError>,
) -> WireResponse {
    let partition = match result {
        Ok(r) => ResponsePartition::default()
            .with_partition_index(request.partition)
            .with_leader_id(BrokerId(r.leader))
            .with_leader_epoch(r.leader_epoch)
            .with_isr(r.isr.iter().map(|b| BrokerId(*b)).collect())
            .with_partition_epoch(r.partition_epoch),
        Err(e) => ResponsePartition::default()
            .with_partition_index(request.partition)
            .with_error_code(e.error.code()),
    };
    WireResponse::default().with_topics(vec![ResponseTopic::default()
        .with_topic_id(request.topic_id.as_uuid())
        .with_partitions(vec![partition])])
}

impl AlterPartitionReply {
    /// The answer for the one partition asked about.
    pub fn from_wire(w: &WireResponse) -> Result<Self, ControllerError> {
        let refused = |code: i16| {
            let error =
                ResponseError::try_from_code(code).unwrap_or(ResponseError::UnknownServerError);
            ControllerError::new(error, format!("AlterPartition refused: {error:?}"))
        };
        if w.error_code != 0 {
            return Err(refused(w.error_code));
        }
        let p = w
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or_else(|| {
                ControllerError::new(
                    ResponseError::UnknownServerError,
                    "empty AlterPartition response",
                )
            })?;
        if p.error_code != 0 {
            return Err(refused(p.error_code));
        }
        Ok(AlterPartitionReply {
            leader: p.leader_id.0,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            isr: p.isr.iter().map(|b| b.0).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::{decode_body, encode_body};

    #[test]
    fn requests_and_answers_round_trip_through_kafkas_encoding() {
        let request = AlterPartitionRequest {
            broker_id: 2,
            broker_epoch: 17,
            topic_id: TopicId([4; 16]),
            partition: 3,
            leader_epoch: 5,
            partition_epoch: 9,
            new_isr: vec![2, 1],
        };
        let body = encode_body(&request.to_wire(), ALTER_PARTITION_VERSION).unwrap();
        let back = decode_body::<WireRequest>(&body, ALTER_PARTITION_VERSION).unwrap();
        assert_eq!(AlterPartitionRequest::from_wire(&back).unwrap(), request);

        let reply = AlterPartitionReply {
            leader: 2,
            leader_epoch: 5,
            partition_epoch: 10,
            isr: vec![2, 1],
        };
        for result in [
            Ok(reply.clone()),
            Err(ControllerError::new(
                ResponseError::InvalidUpdateVersion,
                "stale",
            )),
        ] {
            let wire = alter_partition_response(&request, &result);
            let body = encode_body(&wire, ALTER_PARTITION_VERSION).unwrap();
            let back = decode_body::<WireResponse>(&body, ALTER_PARTITION_VERSION).unwrap();
            let decoded = AlterPartitionReply::from_wire(&back).map_err(|e| e.error);
            assert_eq!(decoded, result.map_err(|e| e.error));
        }
    }
}
