//! A plain Kafka-protocol connection from this broker to another broker (or itself)
//! over the inter-broker listener, for requests one broker sends another: the
//! transaction coordinator's WriteTxnMarkers. One request at a time.

use crate::inter_broker_sasl::{
    InterBrokerLogin, SASL_AUTHENTICATE_VERSION, SASL_HANDSHAKE_VERSION, SASL_ROUND_TRIPS_MAX,
};
use crate::tls_connector::TlsConnector;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use moldau_protocol::kafka::messages::{ApiKey, RequestHeader, ResponseHeader};
use moldau_protocol::kafka::messages::{SaslAuthenticateResponse, SaslHandshakeResponse};
use moldau_protocol::kafka::protocol::{Decodable, Encodable, StrBytes};
use moldau_security::sasl_client::SaslClientCredentials;
use std::time::Duration;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// A plaintext or TLS socket.
trait InterBrokerStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> InterBrokerStream for T {}

/// Largest response accepted (marker answers are a few bytes per partition).
pub const INTER_BROKER_RESPONSE_BYTES_MAX: usize = 8 << 20;
/// How long connecting, or one request and its answer, may take.
pub const INTER_BROKER_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The client id the broker sends (Kafka's coordinator sends "broker-<id>-txn-marker-sender").
const CLIENT_ID_PREFIX: &str = "broker-";

#[derive(Debug, Error)]
pub enum InterBrokerError {
    #[error("connecting to {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("request to {address} failed: {source}")]
    Io {
        address: String,
        source: std::io::Error,
    },
    #[error("request to {0} timed out")]
    Timeout(String),
    #[error("response from {address} is malformed: {reason}")]
    Malformed { address: String, reason: String },
    #[error("SASL login to {address}: {reason}")]
    Authentication { address: String, reason: String },
}

/// One open connection.
pub struct InterBrokerConnection {
    address: String,
    stream: Box<dyn InterBrokerStream>,
    client_id: String,
    next_correlation_id: i32,
}

impl InterBrokerConnection {
    /// Connects to `host:port`, with TLS when `tls` is set (an SSL or SASL_SSL
    /// inter-broker listener), then logs in when `sasl` is set (a SASL one).
    pub async fn connect(
        host: &str,
        port: i32,
        node_id: i32,
        tls: Option<&TlsConnector>,
        sasl: Option<&SaslClientCredentials>,
    ) -> Result<Self, InterBrokerError> {
        let address = format!("{host}:{port}");
        let stream = tokio::time::timeout(
            INTER_BROKER_REQUEST_TIMEOUT,
            TcpStream::connect(address.as_str()),
        )
        .await
        .map_err(|_| InterBrokerError::Timeout(address.clone()))?
        .map_err(|source| InterBrokerError::Connect {
            address: address.clone(),
            source,
        })?;
        let _ = stream.set_nodelay(true);
        let stream: Box<dyn InterBrokerStream> = match tls {
            None => Box::new(stream),
            Some(tls) => Box::new(
                tokio::time::timeout(INTER_BROKER_REQUEST_TIMEOUT, tls.connect(host, stream))
                    .await
                    .map_err(|_| InterBrokerError::Timeout(address.clone()))?
                    .map_err(|source| InterBrokerError::Connect {
                        address: address.clone(),
                        source,
                    })?,
            ),
        };
        let mut connection = InterBrokerConnection {
            address,
            stream,
            client_id: format!("{CLIENT_ID_PREFIX}{node_id}-txn-marker-sender"),
            next_correlation_id: 0,
        };
        if let Some(credentials) = sasl {
            connection.log_in(credentials).await?;
        }
        Ok(connection)
    }

    /// The SASL login (inter_broker_sasl.rs) before any other request.
    async fn log_in(
        &mut self,
        credentials: &SaslClientCredentials,
    ) -> Result<(), InterBrokerError> {
        let address = self.address.clone();
        let refused = |reason: String| InterBrokerError::Authentication {
            address: address.clone(),
            reason,
        };
        let mut login = InterBrokerLogin::new(credentials);
        let handshake: SaslHandshakeResponse = self
            .send(
                ApiKey::SaslHandshake,
                SASL_HANDSHAKE_VERSION,
                &login.handshake(),
            )
            .await?;
        login.check_handshake(&handshake).map_err(refused)?;
        let mut request = login.first();
        for _ in 0..SASL_ROUND_TRIPS_MAX {
            let response: SaslAuthenticateResponse = self
                .send(
                    ApiKey::SaslAuthenticate,
                    SASL_AUTHENTICATE_VERSION,
                    &request,
                )
                .await?;
            match login.next(&response).map_err(refused)? {
                None => return Ok(()),
                Some(next) => request = next,
            }
        }
        Err(refused(format!(
            "not done after {SASL_ROUND_TRIPS_MAX} round trips"
        )))
    }

    /// Sends `request` as `api_key` version `version` and decodes the answer.
    pub async fn send<Req: Encodable, Resp: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        request: &Req,
    ) -> Result<Resp, InterBrokerError> {
        let address = self.address.clone();
        tokio::time::timeout(
            INTER_BROKER_REQUEST_TIMEOUT,
            self.round_trip(api_key, version, request),
        )
        .await
        .map_err(|_| InterBrokerError::Timeout(address))?
    }

    async fn round_trip<Req: Encodable, Resp: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        request: &Req,
    ) -> Result<Resp, InterBrokerError> {
        let malformed = |reason: String| InterBrokerError::Malformed {
            address: self.address.clone(),
            reason,
        };
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_string(self.client_id.clone())));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, api_key.request_header_version(version))
            .map_err(|e| malformed(format!("encoding the request header: {e}")))?;
        request
            .encode(&mut body, version)
            .map_err(|e| malformed(format!("encoding the request: {e}")))?;
        let mut frame = BytesMut::with_capacity(4 + body.len());
        frame.put_u32(body.len() as u32);
        frame.extend_from_slice(&body);
        let io = |source| InterBrokerError::Io {
            address: self.address.clone(),
            source,
        };
        self.stream.write_all(&frame).await.map_err(io)?;
        self.stream.flush().await.map_err(io)?;
        let size = self.stream.read_i32().await.map_err(io)?;
        let size = usize::try_from(size)
            .ok()
            .filter(|s| *s <= INTER_BROKER_RESPONSE_BYTES_MAX)
            .ok_or_else(|| malformed(format!("response size {size}")))?;
        let mut buf = vec![0u8; size];
        self.stream.read_exact(&mut buf).await.map_err(io)?;
        let mut buf = Bytes::from(buf);
        let response_header =
            ResponseHeader::decode(&mut buf, api_key.response_header_version(version))
                .map_err(|e| malformed(format!("response header: {e}")))?;
        if response_header.correlation_id != correlation_id {
            return Err(malformed(format!(
                "correlation id {} for request {correlation_id}",
                response_header.correlation_id
            )));
        }
        let response =
            Resp::decode(&mut buf, version).map_err(|e| malformed(format!("response: {e}")))?;
        if buf.has_remaining() {
            tracing::debug!(
                address = self.address,
                bytes = buf.remaining(),
                "ignoring trailing bytes of an inter-broker response"
            );
        }
        Ok(response)
    }
}
