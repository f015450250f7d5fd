//! How connections on the controller listener are secured, from its security
//! protocol: TLS when it is SSL or SASL_SSL (the peer's certificate checked against
//! the truststore and the voter's host, as inter-broker TLS does), and on SASL_*
//! listeners one PLAIN authentication as the first frame of every connection
//! (`sasl.mechanism.controller.protocol`, the user and password of the listener's
//! JAAS line). A refused peer gets the reason and the connection is closed.

use std::sync::Arc;

use moldau_security::plain::PlainUsers;
use moldau_security::sasl_client::{SaslClient, SaslClientCredentials, SaslClientStep};
use moldau_security::KafkaPrincipal;
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::net::TcpStream;

use crate::raft_transport::cluster_action_check::ClusterActionCheck;
use crate::raft_transport::error::RaftTransportError;
use crate::raft_transport::frame::{read_frame, write_frame};
use crate::raft_transport::message::{decode, encode, RaftReply, RaftRequest};
use crate::tls_connector::TlsConnector;

/// How long an accepted peer has for its TLS handshake and login: a peer that
/// stalls would otherwise hold one of the listener's connection slots.
pub const CONTROLLER_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A plaintext or TLS socket to or from a peer.
pub trait RaftStream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> RaftStream for T {}

/// An open, authenticated connection, buffered for frame reads.
pub type RaftConnection = BufReader<Box<dyn RaftStream>>;

/// An accepted peer's connection and, on a SASL listener, who logged in.
pub struct AcceptedPeer {
    pub connection: RaftConnection,
    pub principal: Option<KafkaPrincipal>,
}

/// The controller listener's security, the same on its client and server sides.
#[derive(Clone, Default)]
pub struct ControllerChannel {
    /// TLS to peers' controller listeners.
    pub connector: Option<TlsConnector>,
    /// TLS on this node's controller listener.
    pub acceptor: Option<tokio_rustls::TlsAcceptor>,
    /// The login this node presents to peers (SASL listeners).
    pub login: Option<SaslClientCredentials>,
    /// The PLAIN users this node's listener accepts; set exactly on SASL listeners.
    pub users: Option<Arc<PlainUsers>>,
    /// The ACL authorizer (`authorizer.class.name`): a peer logged in on a SASL
    /// listener needs CLUSTER_ACTION (cluster_action_check.rs).
    pub authorizer: Option<moldau_security::Authorizer>,
}

impl std::fmt::Debug for ControllerChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerChannel")
            .field("tls", &self.connector.is_some())
            .field("login", &self.login)
            .field("sasl", &self.users.is_some())
            .finish()
    }
}

impl ControllerChannel {
    /// Connects to the controller listener at `addr`: TCP, then TLS and the SASL
    /// login when the listener takes them.
    pub async fn connect(&self, addr: &str) -> Result<RaftConnection, RaftTransportError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let stream: Box<dyn RaftStream> = match &self.connector {
            None => Box::new(stream),
            Some(tls) => {
                let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                Box::new(tls.connect(host, stream).await?)
            }
        };
        let mut connection = BufReader::new(stream);
        if let Some(login) = &self.login {
            log_in(&mut connection, login).await?;
        }
        Ok(connection)
    }

    /// Secures an accepted connection: the TLS handshake, then the peer's login,
    /// within `timeout` (the listener gives [`CONTROLLER_HANDSHAKE_TIMEOUT`]). With
    /// `cluster_action`, a login whose principal lacks CLUSTER_ACTION is refused.
    pub async fn accept(
        &self,
        stream: TcpStream,
        timeout: std::time::Duration,
        cluster_action: Option<&ClusterActionCheck>,
    ) -> Result<AcceptedPeer, RaftTransportError> {
        match tokio::time::timeout(timeout, self.secure(stream, cluster_action)).await {
            Ok(result) => result,
            Err(_) => Err(RaftTransportError::Io(std::io::ErrorKind::TimedOut.into())),
        }
    }

    async fn secure(
        &self,
        stream: TcpStream,
        cluster_action: Option<&ClusterActionCheck>,
    ) -> Result<AcceptedPeer, RaftTransportError> {
        stream.set_nodelay(true)?;
        let host = stream
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        let stream: Box<dyn RaftStream> = match &self.acceptor {
            None => Box::new(stream),
            Some(tls) => Box::new(tls.accept(stream).await?),
        };
        let mut connection = BufReader::new(stream);
        let principal = match &self.users {
            Some(users) => Some(check_login(&mut connection, users, cluster_action, &host).await?),
            None => None,
        };
        Ok(AcceptedPeer {
            connection,
            principal,
        })
    }
}

/// The client side: one SaslAuthenticate frame (PLAIN) and its answer.
async fn log_in(
    connection: &mut RaftConnection,
    login: &SaslClientCredentials,
) -> Result<(), RaftTransportError> {
    // PLAIN takes no nonce; the controller listener accepts PLAIN only.
    let mut client = SaslClient::new(login.clone(), "-".into());
    let message = client.start();
    let request = RaftRequest::SaslAuthenticate {
        mechanism: login.mechanism.name().to_string(),
        message,
    };
    write_frame(connection, &encode(&request)?).await?;
    let reply = match read_frame(connection).await? {
        Some(body) => decode::<RaftReply>(&body)?,
        None => return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into()),
    };
    match reply {
        RaftReply::SaslAuthenticate(Ok(answer)) => match client.step(&answer) {
            Ok(SaslClientStep::Done) => Ok(()),
            Ok(SaslClientStep::Send(_)) => Err(RaftTransportError::Authentication(
                "the controller listener expects one PLAIN message".into(),
            )),
            Err(e) => Err(RaftTransportError::Authentication(e.to_string())),
        },
        RaftReply::SaslAuthenticate(Err(why)) => Err(RaftTransportError::Authentication(why)),
        other => Err(RaftTransportError::WrongReply {
            sent: "SaslAuthenticate",
            got: other.name(),
        }),
    }
}

/// The server side: the first frame must be a valid PLAIN login of a principal
/// allowed CLUSTER_ACTION (when checked); anything else is answered with the reason
/// and the connection ends.
async fn check_login(
    connection: &mut RaftConnection,
    users: &PlainUsers,
    cluster_action: Option<&ClusterActionCheck>,
    host: &str,
) -> Result<KafkaPrincipal, RaftTransportError> {
    let Some(body) = read_frame(connection).await? else {
        return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
    };
    let refusal = match decode::<RaftRequest>(&body)? {
        RaftRequest::SaslAuthenticate { mechanism, message } if mechanism == "PLAIN" => {
            match users.authenticate(&message) {
                Ok(user) => {
                    let principal = KafkaPrincipal::user(&user);
                    if cluster_action.is_none_or(|c| c.allows(&principal, host)) {
                        write_frame(
                            connection,
                            &encode(&RaftReply::SaslAuthenticate(Ok(Vec::new())))?,
                        )
                        .await?;
                        return Ok(principal);
                    }
                    ClusterActionCheck::refusal(&principal)
                }
                Err(e) => e.to_string(),
            }
        }
        RaftRequest::SaslAuthenticate { mechanism, .. } => format!(
            "Authentication failed: the controller listener takes SASL mechanism PLAIN, not {mechanism}"
        ),
        other => format!(
            "Authentication failed: the controller listener uses SASL and a {} came before the login",
            other.name()
        ),
    };
    write_frame(
        connection,
        &encode(&RaftReply::SaslAuthenticate(Err(refusal.clone())))?,
    )
    .await?;
    Err(RaftTransportError::Authentication(refusal))
}

#[cfg(test)]
mod tests {
    use super::*;
    use moldau_security::SaslMechanism;
    use std::collections::BTreeMap;
    use tokio::net::TcpListener;

    fn server() -> ControllerChannel {
        let users = BTreeMap::from([("broker".to_string(), "secret".to_string())]);
        ControllerChannel {
            users: Some(Arc::new(PlainUsers::new(users))),
            ..ControllerChannel::default()
        }
    }

    fn client(password: &str) -> ControllerChannel {
        ControllerChannel {
            login: Some(SaslClientCredentials {
                mechanism: SaslMechanism::Plain,
                username: "broker".into(),
                password: password.into(),
            }),
            ..ControllerChannel::default()
        }
    }

    /// The client's and the server's outcome of one connection.
    async fn exchange(
        client: ControllerChannel,
        before_login: Option<RaftRequest>,
    ) -> (Result<(), String>, Result<(), String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let accepted = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            server()
                .accept(stream, CONTROLLER_HANDSHAKE_TIMEOUT, None)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        let connected = match before_login {
            None => client.connect(&addr).await.map(|_| ()),
            Some(request) => {
                async {
                    let mut c = client.connect(&addr).await?;
                    write_frame(&mut c, &encode(&request)?).await?;
                    match read_frame(&mut c).await? {
                        Some(body) => match decode::<RaftReply>(&body)? {
                            RaftReply::SaslAuthenticate(Err(why)) => {
                                Err(RaftTransportError::Authentication(why))
                            }
                            other => Err(RaftTransportError::Malformed(other.name().into())),
                        },
                        None => Err(RaftTransportError::Malformed("closed".into())),
                    }
                }
                .await
            }
        };
        (
            connected.map_err(|e| e.to_string()),
            accepted.await.unwrap(),
        )
    }

    #[tokio::test]
    async fn a_sasl_controller_listener_takes_the_right_login_only() {
        let (client_side, server_side) = exchange(client("secret"), None).await;
        assert_eq!(client_side, Ok(()));
        assert_eq!(server_side, Ok(()));

        let (client_side, server_side) = exchange(client("wrong"), None).await;
        let refused = client_side.unwrap_err();
        assert!(refused.contains("invalid credentials"), "{refused}");
        assert!(server_side.unwrap_err().contains("invalid credentials"));

        // A peer that sends Raft traffic without logging in is refused with a reason.
        let vote = RaftRequest::ElectLeaders(Vec::new());
        let (client_side, server_side) = exchange(ControllerChannel::default(), Some(vote)).await;
        assert!(client_side.unwrap_err().contains("came before the login"));
        assert!(server_side.is_err());
    }

    #[tokio::test]
    async fn a_peer_that_never_logs_in_is_dropped() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Connected, then silent: no login frame ever comes.
        let _silent = TcpStream::connect(addr).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let accepted = server()
            .accept(stream, std::time::Duration::from_millis(50), None)
            .await;
        assert!(
            matches!(accepted, Err(RaftTransportError::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut)
        );
    }
}
