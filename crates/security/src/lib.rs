//! Authentication without I/O: SASL mechanisms (PLAIN, SCRAM-SHA-256/512) as state
//! machines that take the client's bytes and return the server's, the principal a
//! connection authenticates as, and the mapping of a TLS certificate's subject to a
//! principal. The broker does the socket work and hands credentials in.

pub mod error;
pub mod jaas;
pub mod plain;
pub mod principal;
pub mod principal_mapping;
pub mod sasl_mechanism;
pub mod scram_credential;
pub mod scram_server;

pub use error::AuthenticationError;
pub use principal::KafkaPrincipal;
pub use sasl_mechanism::SaslMechanism;
pub use scram_credential::{ScramCredential, ScramMechanism};
