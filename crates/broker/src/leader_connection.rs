//! A follower's connection to a partition leader's inter-broker listener: Kafka
//! requests out, responses in, blocking (it belongs to one replica fetcher thread).
//! Every response frame's size is checked against a limit before it is read.

use crate::inter_broker_sasl::{
    InterBrokerLogin, SASL_AUTHENTICATE_VERSION, SASL_HANDSHAKE_VERSION, SASL_ROUND_TRIPS_MAX,
};
use crate::tls_connector::TlsConnector;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use moldau_protocol::kafka::messages::{ApiKey, RequestHeader, ResponseHeader};
use moldau_protocol::kafka::messages::{SaslAuthenticateResponse, SaslHandshakeResponse};
use moldau_protocol::kafka::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use moldau_security::sasl_client::SaslClientCredentials;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The socket, in plaintext or TLS (an SSL inter-broker listener).
enum LeaderStream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for LeaderStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            LeaderStream::Plain(s) => s.read(buf),
            LeaderStream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for LeaderStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            LeaderStream::Plain(s) => s.write(buf),
            LeaderStream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            LeaderStream::Plain(s) => s.flush(),
            LeaderStream::Tls(s) => s.flush(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LeaderConnectionError {
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("talking to the leader: {0}")]
    Io(#[from] std::io::Error),
    #[error("response frame of {size} bytes (limit {limit_bytes})")]
    FrameTooLarge { size: i64, limit_bytes: usize },
    #[error("response to correlation id {got}, expected {expected}")]
    Correlation { got: i32, expected: i32 },
    #[error("encoding or decoding {0}")]
    Codec(String),
    #[error("SASL login to the leader: {0}")]
    Authentication(String),
}

pub struct LeaderConnection {
    stream: LeaderStream,
    client_id: String,
    next_correlation_id: i32,
    response_bytes_max: usize,
}

impl LeaderConnection {
    /// Connects within `timeout` (then the TLS handshake with `tls`, checking the
    /// leader's certificate for `addr`'s host); reads and writes then time out after
    /// `io_timeout`. Responses larger than `response_bytes_max` end the connection.
    pub fn connect(
        addr: &str,
        tls: Option<&TlsConnector>,
        sasl: Option<&SaslClientCredentials>,
        client_id: &str,
        timeout: Duration,
        io_timeout: Duration,
        response_bytes_max: usize,
    ) -> Result<Self, LeaderConnectionError> {
        let connect_error = |source| LeaderConnectionError::Connect {
            addr: addr.to_string(),
            source,
        };
        let resolved: Vec<SocketAddr> = addr.to_socket_addrs().map_err(connect_error)?.collect();
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
        for a in resolved {
            match TcpStream::connect_timeout(&a, timeout) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(io_timeout))?;
                    stream.set_write_timeout(Some(io_timeout))?;
                    stream.set_nodelay(true)?;
                    let stream = match tls {
                        None => LeaderStream::Plain(stream),
                        Some(tls) => {
                            let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
                            let host = host.trim_start_matches('[').trim_end_matches(']');
                            LeaderStream::Tls(Box::new(
                                tls.connect_blocking(host, stream).map_err(connect_error)?,
                            ))
                        }
                    };
                    let mut connection = LeaderConnection {
                        stream,
                        client_id: client_id.to_string(),
                        next_correlation_id: 0,
                        response_bytes_max,
                    };
                    if let Some(credentials) = sasl {
                        connection.log_in(credentials)?;
                    }
                    return Ok(connection);
                }
                Err(e) => last = e,
            }
        }
        Err(connect_error(last))
    }

    /// The SASL login (inter_broker_sasl.rs) before any other request.
    fn log_in(&mut self, credentials: &SaslClientCredentials) -> Result<(), LeaderConnectionError> {
        let mut login = InterBrokerLogin::new(credentials);
        let handshake: SaslHandshakeResponse = self.call(
            ApiKey::SaslHandshake,
            SASL_HANDSHAKE_VERSION,
            &login.handshake(),
        )?;
        login
            .check_handshake(&handshake)
            .map_err(LeaderConnectionError::Authentication)?;
        let mut request = login.first();
        for _ in 0..SASL_ROUND_TRIPS_MAX {
            let response: SaslAuthenticateResponse = self.call(
                ApiKey::SaslAuthenticate,
                SASL_AUTHENTICATE_VERSION,
                &request,
            )?;
            match login
                .next(&response)
                .map_err(LeaderConnectionError::Authentication)?
            {
                None => return Ok(()),
                Some(next) => request = next,
            }
        }
        Err(LeaderConnectionError::Authentication(format!(
            "not done after {SASL_ROUND_TRIPS_MAX} round trips"
        )))
    }

    /// Sends `request` as `api_key` v`version` and returns the decoded response.
    pub fn call<Req, Resp>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        request: &Req,
    ) -> Result<Resp, LeaderConnectionError>
    where
        Req: Encodable + HeaderVersion,
        Resp: Decodable + HeaderVersion,
    {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_string(self.client_id.clone())));
        let mut body = BytesMut::new();
        body.put_i32(0);
        header
            .encode(&mut body, Req::header_version(version))
            .map_err(codec)?;
        request.encode(&mut body, version).map_err(codec)?;
        let size = i32::try_from(body.len() - 4).map_err(|_| {
            LeaderConnectionError::Codec(format!("request of {} bytes", body.len()))
        })?;
        body[..4].copy_from_slice(&size.to_be_bytes());
        self.stream.write_all(&body)?;
        self.stream.flush()?;

        let mut size_bytes = [0u8; 4];
        self.stream.read_exact(&mut size_bytes)?;
        let size = i32::from_be_bytes(size_bytes);
        if size < 0 || size as usize > self.response_bytes_max {
            return Err(LeaderConnectionError::FrameTooLarge {
                size: i64::from(size),
                limit_bytes: self.response_bytes_max,
            });
        }
        let mut frame = vec![0u8; size as usize];
        self.stream.read_exact(&mut frame)?;
        let mut buf = Bytes::from(frame);
        let response_header =
            ResponseHeader::decode(&mut buf, Resp::header_version(version)).map_err(codec)?;
        if response_header.correlation_id != correlation_id {
            return Err(LeaderConnectionError::Correlation {
                got: response_header.correlation_id,
                expected: correlation_id,
            });
        }
        let response = Resp::decode(&mut buf, version).map_err(codec)?;
        if buf.has_remaining() {
            tracing::debug!(bytes = buf.remaining(), "bytes after a leader's response");
        }
        Ok(response)
    }
}

fn codec(e: impl std::fmt::Display) -> LeaderConnectionError {
    LeaderConnectionError::Codec(e.to_string())
}
