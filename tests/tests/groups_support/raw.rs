//! A bare Kafka connection speaking just enough of the group protocol to act as a
//! member that misbehaves on purpose, or to send versions the clients at hand do not.

use bytes::{Bytes, BytesMut};
use moldau_protocol::kafka::messages::join_group_request::JoinGroupRequestProtocol;
use moldau_protocol::kafka::messages::{
    FindCoordinatorRequest, GroupId, JoinGroupRequest, RequestHeader, ResponseHeader,
};
use moldau_protocol::kafka::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

pub const ILLEGAL_GENERATION: i16 = 22;
pub const UNKNOWN_MEMBER_ID: i16 = 25;
pub const GROUP_MAX_SIZE_REACHED: i16 = 81;
pub const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;
pub const REBALANCE_IN_PROGRESS: i16 = 27;
pub const FENCED_INSTANCE_ID: i16 = 82;
pub const MEMBER_ID_REQUIRED: i16 = 79;
/// Longest wait for the offsets topic to be created and served.
const COORDINATOR_WAIT: Duration = Duration::from_secs(60);

/// Largest response the raw client accepts.
const RESPONSE_BYTES_MAX: usize = 1 << 20;

/// A bare Kafka connection speaking just enough of the group protocol.
pub struct RawClient {
    stream: TcpStream,
    correlation_id: i32,
    client_id: &'static str,
}

impl RawClient {
    pub fn connect(addr: &str) -> RawClient {
        Self::connect_as(addr, "raw-member")
    }

    /// A connection whose requests carry `client_id`.
    pub fn connect_as(addr: &str, client_id: &'static str) -> RawClient {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        RawClient {
            stream,
            correlation_id: 0,
            client_id,
        }
    }

    /// Asks FindCoordinator (v1) until it names a coordinator: the offsets topic is
    /// created on first use.
    pub fn wait_for_coordinator(&mut self, group: &str) {
        let deadline = Instant::now() + COORDINATOR_WAIT;
        loop {
            let found = self.call(1, &FindCoordinatorRequest::default().with_key(s(group)));
            if found.error_code == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "no coordinator: {found:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn call<R: Request>(&mut self, version: i16, request: &R) -> R::Response {
        self.send(version, request);
        self.receive::<R>(version)
    }

    /// Sends a request without waiting for its answer; its correlation id.
    pub fn send<R: Request>(&mut self, version: i16, request: &R) -> i32 {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(self.client_id)));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, R::header_version(version))
            .expect("header encodes");
        request.encode(&mut body, version).expect("request encodes");
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        self.stream.write_all(&frame).expect("send");
        self.correlation_id
    }

    /// Reads the answer to the request sent last.
    pub fn receive<R: Request>(&mut self, version: i16) -> R::Response {
        self.receive_answer::<R>(version, self.correlation_id)
    }

    /// Reads the next answer, which must be the one to request `correlation_id`
    /// (answers come in request order).
    pub fn receive_answer<R: Request>(&mut self, version: i16, correlation_id: i32) -> R::Response {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).expect("response size");
        let size = i32::from_be_bytes(size) as usize;
        assert!(size <= RESPONSE_BYTES_MAX, "response of {size} bytes");
        let mut buf = vec![0u8; size];
        self.stream.read_exact(&mut buf).expect("response");
        let mut buf = Bytes::from(buf);
        let h = ResponseHeader::decode(&mut buf, R::Response::header_version(version))
            .expect("response header");
        assert_eq!(h.correlation_id, correlation_id);
        R::Response::decode(&mut buf, version).expect("response decodes")
    }
}

/// Consumer-protocol subscription v0 to one topic.
pub fn subscription(topic: &str) -> Bytes {
    let mut v = 0i16.to_be_bytes().to_vec();
    v.extend_from_slice(&1i32.to_be_bytes());
    v.extend_from_slice(&(topic.len() as i16).to_be_bytes());
    v.extend_from_slice(topic.as_bytes());
    v.extend_from_slice(&(-1i32).to_be_bytes());
    Bytes::from(v)
}

/// Consumer-protocol assignment v0 of `partitions` of one topic.
pub fn assignment(topic: &str, partitions: &[i32]) -> Bytes {
    let mut v = 0i16.to_be_bytes().to_vec();
    v.extend_from_slice(&1i32.to_be_bytes());
    v.extend_from_slice(&(topic.len() as i16).to_be_bytes());
    v.extend_from_slice(topic.as_bytes());
    v.extend_from_slice(&(partitions.len() as i32).to_be_bytes());
    for p in partitions {
        v.extend_from_slice(&p.to_be_bytes());
    }
    v.extend_from_slice(&(-1i32).to_be_bytes());
    Bytes::from(v)
}

pub fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// A consumer-protocol JoinGroup (v5 fields) for one topic with the range assignor.
pub fn join_request(
    group: &str,
    topic: &str,
    member_id: &str,
    instance_id: Option<&str>,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_session_timeout_ms(session_timeout_ms)
        .with_rebalance_timeout_ms(rebalance_timeout_ms)
        .with_member_id(s(member_id))
        .with_group_instance_id(instance_id.map(s))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(subscription(topic))])
}
