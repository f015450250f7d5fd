//! A user name and password checked against the broker's SASL user stores, for a
//! login that is not a SASL exchange (the web console): the SCRAM credentials in the
//! metadata image (either mechanism), then the PLAIN users of every listener's JAAS
//! configuration. The same users Kafka clients authenticate as.

use crate::broker::Broker;
use moldau_security::ScramMechanism;

impl Broker {
    /// True when `user` exists in a store and `password` is theirs.
    pub fn check_password(&self, user: &str, password: &str) -> bool {
        if user.is_empty() || password.is_empty() {
            return false;
        }
        let scram = ScramMechanism::ALL.into_iter().any(|mechanism| {
            self.scram_credential(user, mechanism)
                .is_some_and(|c| c.matches_password(mechanism, password))
        });
        if scram {
            return true;
        }
        // PLAIN's message: an empty authorization id, the user, the password.
        let message = format!("\0{user}\0{password}");
        self.listener_auths.all().any(|l| {
            l.security
                .plain_users
                .authenticate(message.as_bytes())
                .is_ok()
        })
    }
}
