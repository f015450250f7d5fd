//! `controller.quorum.voters` (`id@host:port,…`), as Kafka writes it.

use thiserror::Error;

/// One controller of the quorum and where its controller listener is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumVoter {
    pub id: i32,
    pub host: String,
    pub port: u16,
}

/// Why a voter list cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum VotersError {
    #[error("'{0}' is not ID@HOST:PORT")]
    Malformed(String),
    #[error("'{0}' has no valid node id (a non-negative integer before '@')")]
    BadId(String),
    #[error("'{0}' has no valid port")]
    BadPort(String),
    #[error("node id {0} is listed twice")]
    Duplicate(i32),
    #[error("the list is empty")]
    Empty,
}

/// Parses `id@host:port,…` (IPv6 hosts in brackets).
pub fn parse_voters(text: &str) -> Result<Vec<QuorumVoter>, VotersError> {
    let mut voters: Vec<QuorumVoter> = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (id, endpoint) = item
            .split_once('@')
            .ok_or_else(|| VotersError::Malformed(item.to_string()))?;
        let id: i32 = id
            .trim()
            .parse()
            .ok()
            .filter(|id| *id >= 0)
            .ok_or_else(|| VotersError::BadId(item.to_string()))?;
        let (host, port) =
            split_host_port(endpoint).ok_or_else(|| VotersError::Malformed(item.to_string()))?;
        let port: u16 = port
            .parse()
            .map_err(|_| VotersError::BadPort(item.to_string()))?;
        if voters.iter().any(|v| v.id == id) {
            return Err(VotersError::Duplicate(id));
        }
        voters.push(QuorumVoter {
            id,
            host: host.to_string(),
            port,
        });
    }
    if voters.is_empty() {
        return Err(VotersError::Empty);
    }
    Ok(voters)
}

/// `host:port` or `[v6]:port` into host and port text; None without a host.
pub fn split_host_port(endpoint: &str) -> Option<(&str, &str)> {
    let (host, port) = endpoint.trim().rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    (!host.is_empty()).then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafka_voter_lists() {
        let v = parse_voters("1@127.0.0.1:9093, 2@[::1]:9193,3@kafka-3:9293").unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(
            v[1],
            QuorumVoter {
                id: 2,
                host: "::1".into(),
                port: 9193
            }
        );
        assert_eq!(v[2].host, "kafka-3");
    }

    #[test]
    fn refuses_bad_voter_lists() {
        assert!(matches!(
            parse_voters("127.0.0.1:9093"),
            Err(VotersError::Malformed(_))
        ));
        assert!(matches!(parse_voters("x@h:1"), Err(VotersError::BadId(_))));
        assert!(matches!(parse_voters("-1@h:1"), Err(VotersError::BadId(_))));
        assert!(matches!(
            parse_voters("1@h:99999"),
            Err(VotersError::BadPort(_))
        ));
        assert!(matches!(
            parse_voters("1@:1"),
            Err(VotersError::Malformed(_))
        ));
        assert_eq!(parse_voters("1@a:1,1@b:2"), Err(VotersError::Duplicate(1)));
        assert_eq!(parse_voters(" , "), Err(VotersError::Empty));
    }
}
