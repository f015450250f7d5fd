//! Authentication without I/O: SASL mechanisms (PLAIN, SCRAM-SHA-256/512) as state
//! machines that take the client's bytes and return the server's, the principal a
//! connection authenticates as, and the mapping of a TLS certificate's subject to a
//! principal. The broker does the socket work and hands credentials in. Also the ACL
//! authorizer ([`Authorizer::authorize`]) over whatever keeps the ACLs (the metadata
//! image's index), and the filters of DescribeAcls / DeleteAcls.

pub mod acl_filter;
pub mod acl_resource;
pub mod authorizer;
pub mod error;
pub mod jaas;
pub mod plain;
pub mod principal;
pub mod principal_mapping;
pub mod sasl_client;
pub mod sasl_mechanism;
pub mod scram_credential;
pub mod scram_server;

pub use acl_resource::AclResource;
pub use authorizer::{Authorizer, Decision};
pub use error::AuthenticationError;
pub use principal::KafkaPrincipal;
pub use sasl_mechanism::SaslMechanism;
pub use scram_credential::{ScramCredential, ScramMechanism};
