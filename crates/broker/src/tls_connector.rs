//! The client side of TLS, for the connections a broker opens to other brokers and
//! controllers (replica fetchers, the transaction marker sender) when the
//! inter-broker listener is SSL: the peer's certificate checked against the
//! listener's truststore and its advertised host name (Kafka's default
//! `ssl.endpoint.identification.algorithm=https`), and the listener's keystore
//! certificate presented when the peer asks for one (`ssl.client.auth`).

use crate::listener_security::{SslSettings, TlsVersion, TruststoreSource};
use crate::tls_acceptor::{
    certificates, keystore_chain_and_key, read_pem_file, setup_error, TlsSetupError,
};
use rustls::pki_types::ServerName;
use std::sync::Arc;

/// A TLS client configuration for one listener's peers.
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConnector")
    }
}

impl TlsConnector {
    /// From the listener's SSL settings; a listener without a truststore cannot check
    /// its peers, which stops start-up.
    pub fn load(settings: &SslSettings) -> Result<Self, TlsSetupError> {
        // ring, as the listeners use (see tls_acceptor.rs).
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (property, pem) = match &settings.truststore {
            Some(TruststoreSource::File(path)) => {
                ("ssl.truststore.location", read_pem_file("ssl.truststore.location", path)?)
            }
            Some(TruststoreSource::Inline(pem)) => ("ssl.truststore.certificates", pem.as_bytes().to_vec()),
            None => {
                return Err(setup_error(
                    "ssl.truststore.location",
                    "a broker connecting to other brokers over SSL checks their certificates against a PEM truststore",
                ))
            }
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in certificates(property, &pem)? {
            roots
                .add(cert)
                .map_err(|e| setup_error(property, format!("unusable CA certificate: {e}")))?;
        }
        let versions: Vec<&'static rustls::SupportedProtocolVersion> = settings
            .versions
            .iter()
            .map(|v| match v {
                TlsVersion::Tls12 => &rustls::version::TLS12,
                TlsVersion::Tls13 => &rustls::version::TLS13,
            })
            .collect();
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(|e| setup_error("ssl.enabled.protocols", e.to_string()))?
            .with_root_certificates(roots);
        let (chain, key, property) =
            keystore_chain_and_key(&settings.keystore, settings.key_password.as_ref())?;
        let config = builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| setup_error(property, format!("unusable as a client certificate: {e}")))?;
        Ok(TlsConnector {
            config: Arc::new(config),
        })
    }

    fn server_name(host: &str) -> std::io::Result<ServerName<'static>> {
        ServerName::try_from(host.to_string()).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{host}: {e}"))
        })
    }

    /// TLS over a connected blocking socket (the replica fetcher threads).
    pub fn connect_blocking(
        &self,
        host: &str,
        stream: std::net::TcpStream,
    ) -> std::io::Result<rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>> {
        let connection =
            rustls::ClientConnection::new(Arc::clone(&self.config), Self::server_name(host)?)
                .map_err(std::io::Error::other)?;
        let mut tls = rustls::StreamOwned::new(connection, stream);
        // The handshake now, so a refused certificate shows as a connect error.
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock)?;
        }
        Ok(tls)
    }

    /// TLS over a connected tokio socket.
    pub async fn connect(
        &self,
        host: &str,
        stream: tokio::net::TcpStream,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        tokio_rustls::TlsConnector::from(Arc::clone(&self.config))
            .connect(Self::server_name(host)?, stream)
            .await
    }
}
