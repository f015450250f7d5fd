//! TLS for SSL and SASL_SSL listeners with rustls: the server certificate from a PEM
//! keystore (re-read when its file changes, so a renewed certificate is served without
//! a restart), client certificates checked against a PEM truststore per
//! `ssl.client.auth`, and the subject of the client's certificate as its principal.

use crate::key_password::{self, KeyEncryption, KeyPassword};
use crate::listener_security::{
    ClientAuth, KeystoreSource, SslSettings, TlsVersion, TruststoreSource,
};
use parking_lot::Mutex;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How often the keystore file's modification time is looked at (on a handshake).
const KEYSTORE_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Largest PEM file read (a certificate chain is a few kilobytes).
const PEM_FILE_BYTES_MAX: u64 = 1 << 20;

/// Why TLS settings cannot be loaded; names the property to fix.
#[derive(Debug, thiserror::Error)]
#[error("{property}: {reason}")]
pub struct TlsSetupError {
    pub property: &'static str,
    pub reason: String,
}

pub(crate) fn setup_error(property: &'static str, reason: impl Into<String>) -> TlsSetupError {
    TlsSetupError {
        property,
        reason: reason.into(),
    }
}

pub(crate) fn read_pem_file(property: &'static str, path: &str) -> Result<Vec<u8>, TlsSetupError> {
    let size = std::fs::metadata(path)
        .map_err(|e| setup_error(property, format!("cannot read {path}: {e}")))?
        .len();
    if size > PEM_FILE_BYTES_MAX {
        return Err(setup_error(
            property,
            format!("{path} is {size} bytes, more than a PEM file of {PEM_FILE_BYTES_MAX}"),
        ));
    }
    std::fs::read(path).map_err(|e| setup_error(property, format!("cannot read {path}: {e}")))
}

pub(crate) fn certificates(
    property: &'static str,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| setup_error(property, format!("not PEM certificates: {e:?}")))?;
    if certs.is_empty() {
        return Err(setup_error(
            property,
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(certs)
}

/// The private key in `pem`: decrypted with `password` when it is encrypted PKCS#8
/// (which then needs one), as Kafka reads PEM keystores.
fn private_key(
    property: &'static str,
    pem: &[u8],
    password: Option<&KeyPassword>,
) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    let encryption = key_password::key_encryption(pem).map_err(|e| setup_error(property, e))?;
    match (encryption, password) {
        (KeyEncryption::Pkcs8(der), Some(password)) => {
            return key_password::decrypt(&der, password).map_err(|e| setup_error(property, e));
        }
        (KeyEncryption::Pkcs8(_), None) => {
            return Err(setup_error(
                property,
                "the private key is encrypted: set ssl.key.password",
            ));
        }
        (KeyEncryption::None, Some(_)) => {
            return Err(setup_error(
                property,
                "ssl.key.password is set but the private key is not encrypted (-----BEGIN ENCRYPTED PRIVATE KEY-----)",
            ));
        }
        (KeyEncryption::None, None) => {}
    }
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| {
        setup_error(
            property,
            format!("holds no unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1): {e:?}"),
        )
    })
}

/// The keystore's certificate chain and private key, and the property they came from.
pub(crate) fn keystore_chain_and_key(
    source: &KeystoreSource,
    password: Option<&KeyPassword>,
) -> Result<
    (
        Vec<CertificateDer<'static>>,
        PrivateKeyDer<'static>,
        &'static str,
    ),
    TlsSetupError,
> {
    Ok(match source {
        KeystoreSource::File(path) => {
            let pem = read_pem_file("ssl.keystore.location", path)?;
            (
                certificates("ssl.keystore.location", &pem)?,
                private_key("ssl.keystore.location", &pem, password)?,
                "ssl.keystore.location",
            )
        }
        KeystoreSource::Inline { chain, key } => (
            certificates("ssl.keystore.certificate.chain", chain.as_bytes())?,
            private_key("ssl.keystore.key", key.as_bytes(), password)?,
            "ssl.keystore.key",
        ),
    })
}

/// The server's certificate and key from `source`.
fn load_certified_key(
    source: &KeystoreSource,
    password: Option<&KeyPassword>,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsSetupError> {
    let (chain, key, property) = keystore_chain_and_key(source, password)?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| setup_error(property, format!("unusable private key: {e}")))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| {
        setup_error(
            property,
            format!("the key does not match the certificate: {e}"),
        )
    })?;
    Ok(certified)
}

fn modified(path: &str) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The server certificate, re-read from its file when the file changes. A file that
/// no longer loads keeps the previous certificate in service (and is logged).
#[derive(Debug)]
struct ServerCertificate {
    source: KeystoreSource,
    key_password: Option<KeyPassword>,
    provider: Arc<CryptoProvider>,
    state: Mutex<CertificateState>,
}

#[derive(Debug)]
struct CertificateState {
    current: Arc<CertifiedKey>,
    modified: Option<SystemTime>,
    checked: Instant,
}

impl ServerCertificate {
    fn reload_if_changed(&self, state: &mut CertificateState) {
        let KeystoreSource::File(path) = &self.source else {
            return;
        };
        if state.checked.elapsed() < KEYSTORE_CHECK_INTERVAL {
            return;
        }
        state.checked = Instant::now();
        let now = modified(path);
        if now == state.modified {
            return;
        }
        state.modified = now;
        match load_certified_key(&self.source, self.key_password.as_ref(), &self.provider) {
            Ok(key) => {
                tracing::info!(path = %path, "reloaded the TLS certificate (ssl.keystore.location changed)");
                state.current = Arc::new(key);
            }
            Err(e) => {
                tracing::warn!("keeping the previous TLS certificate: {e}");
            }
        }
    }
}

impl ResolvesServerCert for ServerCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut state = self.state.lock();
        self.reload_if_changed(&mut state);
        Some(Arc::clone(&state.current))
    }
}

/// A listener's TLS acceptor and how it names clients.
#[derive(Clone)]
pub struct TlsListener {
    pub acceptor: tokio_rustls::TlsAcceptor,
    pub settings: SslSettings,
}

impl TlsListener {
    /// Loads the keystore and truststore; any problem names the property to fix.
    pub fn load(settings: &SslSettings) -> Result<Self, TlsSetupError> {
        // ring rather than aws-lc-rs (which needs cmake to build); ring lacks the
        // post-quantum key exchange, which is why rustls deprecates this constructor.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: Vec<&'static rustls::SupportedProtocolVersion> = settings
            .versions
            .iter()
            .map(|v| match v {
                TlsVersion::Tls12 => &rustls::version::TLS12,
                TlsVersion::Tls13 => &rustls::version::TLS13,
            })
            .collect();
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&versions)
            .map_err(|e| setup_error("ssl.enabled.protocols", e.to_string()))?;
        let builder = match (&settings.truststore, settings.client_auth) {
            (_, ClientAuth::None) | (None, _) => builder.with_no_client_auth(),
            (Some(trust), auth) => {
                let (property, pem) = match trust {
                    TruststoreSource::File(path) => (
                        "ssl.truststore.location",
                        read_pem_file("ssl.truststore.location", path)?,
                    ),
                    TruststoreSource::Inline(pem) => {
                        ("ssl.truststore.certificates", pem.as_bytes().to_vec())
                    }
                };
                let mut roots = rustls::RootCertStore::empty();
                for cert in certificates(property, &pem)? {
                    roots.add(cert).map_err(|e| {
                        setup_error(property, format!("unusable CA certificate: {e}"))
                    })?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    Arc::clone(&provider),
                );
                let verifier = if auth == ClientAuth::Requested {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| setup_error(property, e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let modified_at = match &settings.keystore {
            KeystoreSource::File(path) => modified(path),
            KeystoreSource::Inline { .. } => None,
        };
        let certificate = ServerCertificate {
            source: settings.keystore.clone(),
            key_password: settings.key_password.clone(),
            state: Mutex::new(CertificateState {
                current: Arc::new(load_certified_key(
                    &settings.keystore,
                    settings.key_password.as_ref(),
                    &provider,
                )?),
                modified: modified_at,
                checked: Instant::now(),
            }),
            provider,
        };
        let config = builder.with_cert_resolver(Arc::new(certificate));
        Ok(TlsListener {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            settings: settings.clone(),
        })
    }

    /// The principal name of a client that presented `certificate` (its subject as
    /// an RFC 2253 name, through `ssl.principal.mapping.rules`); None when the
    /// certificate has no readable subject. Err(subject) when no rule maps it: Kafka
    /// then fails the authentication.
    pub fn principal_name(
        &self,
        certificate: &CertificateDer<'_>,
    ) -> Result<Option<String>, String> {
        let Some(subject) = subject_name(certificate) else {
            return Ok(None);
        };
        match self.settings.principal_mapping.apply(&subject) {
            Some(name) => Ok(Some(name)),
            None => Err(subject),
        }
    }
}

/// A certificate's subject as RFC 2253 prints it (what Java's
/// `X500Principal.getName()` returns and Kafka's DEFAULT rule keeps): RDNs from last to
/// first, joined by ','; the common keywords by name, others by dotted OID.
pub fn subject_name(certificate: &CertificateDer<'_>) -> Option<String> {
    use x509_parser::prelude::FromDer;
    let (_, cert) =
        x509_parser::certificate::X509Certificate::from_der(certificate.as_ref()).ok()?;
    let mut rdns = Vec::new();
    for rdn in cert.subject().iter_rdn() {
        let mut parts = Vec::new();
        for attr in rdn.iter() {
            let oid = attr.attr_type().to_id_string();
            let keyword = match oid.as_str() {
                "2.5.4.3" => "CN".to_string(),
                "2.5.4.6" => "C".to_string(),
                "2.5.4.7" => "L".to_string(),
                "2.5.4.8" => "ST".to_string(),
                "2.5.4.10" => "O".to_string(),
                "2.5.4.11" => "OU".to_string(),
                "2.5.4.9" => "STREET".to_string(),
                "0.9.2342.19200300.100.1.25" => "DC".to_string(),
                "0.9.2342.19200300.100.1.1" => "UID".to_string(),
                other => other.to_string(),
            };
            let value = attr.as_str().ok()?;
            parts.push(format!("{keyword}={}", escape_rfc2253(value)));
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

/// RFC 2253's escaping of an attribute value.
fn escape_rfc2253(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2253_escaping() {
        assert_eq!(escape_rfc2253("a,b+c"), "a\\,b\\+c");
        assert_eq!(escape_rfc2253(" lead#"), "\\ lead#");
        assert_eq!(escape_rfc2253("#x "), "\\#x\\ ");
    }
}
