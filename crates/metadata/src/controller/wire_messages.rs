//! BrokerRegistration (api key 62) and BrokerHeartbeat (63) bodies to and from the
//! controller's messages, checked against the limits a registration record has.

use super::messages::{HeartbeatReply, HeartbeatRequest, RegistrationReply, RegistrationRequest};
use super::ControllerError;
use crate::{
    BrokerEndpoint, BrokerFeature, SecurityProtocol, RECORD_ARRAY_ITEMS_MAX,
    RECORD_STRING_BYTES_MAX,
};
use moldau_protocol::kafka::messages::broker_registration_request::{Feature, Listener};
use moldau_protocol::kafka::messages::{
    BrokerHeartbeatRequest, BrokerHeartbeatResponse, BrokerId, BrokerRegistrationRequest,
    BrokerRegistrationResponse,
};
use moldau_protocol::kafka::protocol::{Decodable, Encodable, StrBytes};
use moldau_protocol::ResponseError;

fn invalid(message: String) -> ControllerError {
    ControllerError::new(ResponseError::InvalidRequest, message)
}

/// A string field bounded as the registration record stores it.
fn bounded(field: &str, value: &str) -> Result<String, ControllerError> {
    if value.len() > RECORD_STRING_BYTES_MAX {
        return Err(invalid(format!(
            "{field} is {} bytes, over the {RECORD_STRING_BYTES_MAX} a registration holds",
            value.len()
        )));
    }
    Ok(value.to_string())
}

fn bounded_count(field: &str, count: usize) -> Result<(), ControllerError> {
    if count > RECORD_ARRAY_ITEMS_MAX {
        return Err(invalid(format!(
            "{count} {field}, over the {RECORD_ARRAY_ITEMS_MAX} a registration holds"
        )));
    }
    Ok(())
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

impl RegistrationRequest {
    pub fn from_wire(r: &BrokerRegistrationRequest) -> Result<Self, ControllerError> {
        bounded_count("listeners", r.listeners.len())?;
        bounded_count("features", r.features.len())?;
        let listeners = r
            .listeners
            .iter()
            .map(|l| {
                let security_protocol =
                    SecurityProtocol::from_id(l.security_protocol).ok_or_else(|| {
                        invalid(format!(
                            "listener {} has unknown security protocol {}",
                            l.name.as_str(),
                            l.security_protocol
                        ))
                    })?;
                Ok(BrokerEndpoint {
                    name: bounded("listener name", &l.name)?,
                    host: bounded("listener host", &l.host)?,
                    port: l.port,
                    security_protocol,
                })
            })
            .collect::<Result<_, ControllerError>>()?;
        let features = r
            .features
            .iter()
            .map(|f| {
                Ok(BrokerFeature {
                    name: bounded("feature name", &f.name)?,
                    min_supported: f.min_supported_version,
                    max_supported: f.max_supported_version,
                })
            })
            .collect::<Result<_, ControllerError>>()?;
        Ok(RegistrationRequest {
            broker_id: r.broker_id.0,
            cluster_id: bounded("cluster id", &r.cluster_id)?,
            incarnation_id: *r.incarnation_id.as_bytes(),
            listeners,
            features,
            rack: r.rack.as_ref().map(|s| bounded("rack", s)).transpose()?,
            // Kafka sends -1 for none; any negative epoch names no registration.
            previous_broker_epoch: (r.previous_broker_epoch >= 0)
                .then_some(r.previous_broker_epoch),
        })
    }

    pub fn to_wire(&self) -> BrokerRegistrationRequest {
        BrokerRegistrationRequest::default()
            .with_broker_id(BrokerId(self.broker_id))
            .with_cluster_id(str_bytes(&self.cluster_id))
            .with_incarnation_id(uuid::Uuid::from_bytes(self.incarnation_id))
            .with_listeners(
                self.listeners
                    .iter()
                    .map(|l| {
                        Listener::default()
                            .with_name(str_bytes(&l.name))
                            .with_host(str_bytes(&l.host))
                            .with_port(l.port)
                            .with_security_protocol(l.security_protocol.id())
                    })
                    .collect(),
            )
            .with_features(
                self.features
                    .iter()
                    .map(|f| {
                        Feature::default()
                            .with_name(str_bytes(&f.name))
                            .with_min_supported_version(f.min_supported)
                            .with_max_supported_version(f.max_supported)
                    })
                    .collect(),
            )
            .with_rack(self.rack.as_deref().map(str_bytes))
            .with_previous_broker_epoch(self.previous_broker_epoch.unwrap_or(-1))
    }
}

/// The response to a registration: the epoch, or the refusal's code.
pub fn registration_response(
    result: &Result<RegistrationReply, ControllerError>,
) -> BrokerRegistrationResponse {
    match result {
        Ok(reply) => BrokerRegistrationResponse::default().with_broker_epoch(reply.broker_epoch),
        Err(e) => BrokerRegistrationResponse::default()
            .with_error_code(e.error.code())
            .with_broker_epoch(-1),
    }
}

impl HeartbeatRequest {
    pub fn from_wire(r: &BrokerHeartbeatRequest) -> Self {
        HeartbeatRequest {
            broker_id: r.broker_id.0,
            broker_epoch: r.broker_epoch,
            current_metadata_offset: r.current_metadata_offset,
            want_fence: r.want_fence,
            want_shut_down: r.want_shut_down,
        }
    }

    pub fn to_wire(&self) -> BrokerHeartbeatRequest {
        BrokerHeartbeatRequest::default()
            .with_broker_id(BrokerId(self.broker_id))
            .with_broker_epoch(self.broker_epoch)
            .with_current_metadata_offset(self.current_metadata_offset)
            .with_want_fence(self.want_fence)
            .with_want_shut_down(self.want_shut_down)
    }
}

/// The response to a heartbeat; a refused one says fenced, as Kafka's does.
pub fn heartbeat_response(
    result: &Result<HeartbeatReply, ControllerError>,
) -> BrokerHeartbeatResponse {
    match result {
        Ok(r) => BrokerHeartbeatResponse::default()
            .with_is_caught_up(r.is_caught_up)
            .with_is_fenced(r.is_fenced)
            .with_should_shut_down(r.should_shut_down),
        Err(e) => BrokerHeartbeatResponse::default()
            .with_error_code(e.error.code())
            .with_is_fenced(true),
    }
}

/// The BrokerRegistration version a broker sends and the controller reads.
pub const BROKER_REGISTRATION_VERSION: i16 = 4;
/// The BrokerHeartbeat version a broker sends and the controller reads.
pub const BROKER_HEARTBEAT_VERSION: i16 = 1;

/// A message body in Kafka's encoding at `version`.
pub fn encode_body<M: Encodable>(message: &M, version: i16) -> Result<Vec<u8>, ControllerError> {
    let mut buf = bytes::BytesMut::new();
    message
        .encode(&mut buf, version)
        .map_err(|e| ControllerError::new(ResponseError::UnknownServerError, e.to_string()))?;
    Ok(buf.to_vec())
}

/// A message body read at `version`; bytes left over make it malformed.
pub fn decode_body<M: Decodable>(bytes: &[u8], version: i16) -> Result<M, ControllerError> {
    let mut buf = bytes::Bytes::copy_from_slice(bytes);
    let message = M::decode(&mut buf, version)
        .map_err(|e| invalid(format!("malformed message body: {e}")))?;
    if !buf.is_empty() {
        return Err(invalid(format!(
            "{} bytes after the message body",
            buf.len()
        )));
    }
    Ok(message)
}

/// A response's error code and message as the refusal they stand for, or `None` for
/// success.
pub fn refusal(error_code: i16, what: &str) -> Option<ControllerError> {
    if error_code == 0 {
        return None;
    }
    let error =
        ResponseError::try_from_code(error_code).unwrap_or(ResponseError::UnknownServerError);
    Some(ControllerError::new(
        error,
        format!("{what} refused by the controller: {error:?}"),
    ))
}

impl HeartbeatReply {
    /// A heartbeat response read back on the broker.
    pub fn from_wire(r: &BrokerHeartbeatResponse) -> Result<Self, ControllerError> {
        if let Some(e) = refusal(r.error_code, "heartbeat") {
            return Err(e);
        }
        Ok(HeartbeatReply {
            is_caught_up: r.is_caught_up,
            is_fenced: r.is_fenced,
            in_controlled_shutdown: false,
            should_shut_down: r.should_shut_down,
        })
    }
}

impl RegistrationReply {
    /// A registration response read back on the broker.
    pub fn from_wire(r: &BrokerRegistrationResponse) -> Result<Self, ControllerError> {
        if let Some(e) = refusal(r.error_code, "registration") {
            return Err(e);
        }
        Ok(RegistrationReply {
            broker_epoch: r.broker_epoch,
        })
    }
}
