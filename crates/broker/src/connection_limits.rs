//! Kafka's connection quotas. `max.connections` is broker-wide: at the limit the
//! listener stops accepting (new clients wait in the kernel's backlog) until a
//! connection closes. `max.connections.per.ip` (with `max.connections.per.ip.overrides`
//! for named addresses) is per client address: a connection over it is closed at once.

use crate::config::BrokerConfig;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The open-connection counts checked against the configured limits.
pub struct ConnectionLimits {
    /// One permit per connection the broker may still accept.
    free: Arc<Semaphore>,
    per_ip_max: usize,
    per_ip_overrides: HashMap<IpAddr, usize>,
    open_by_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// Room for one more connection under `max.connections`, taken before accepting.
pub struct ConnectionSlot {
    _permit: OwnedSemaphorePermit,
}

/// An admitted connection; its counts go down when this drops.
pub struct ConnectionPermit {
    ip: IpAddr,
    open_by_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
    _slot: ConnectionSlot,
}

/// The address already has as many connections as it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerIpLimitReached {
    pub limit: usize,
}

impl ConnectionLimits {
    pub fn new(
        total_max: usize,
        per_ip_max: usize,
        per_ip_overrides: HashMap<IpAddr, usize>,
    ) -> Self {
        ConnectionLimits {
            free: Arc::new(Semaphore::new(total_max.min(Semaphore::MAX_PERMITS))),
            per_ip_max,
            per_ip_overrides,
            open_by_ip: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The limits `config` sets (validated at start-up, see [`parse_per_ip_overrides`]).
    pub fn from_config(config: &BrokerConfig) -> Self {
        let count = |name: &str| usize::try_from(config.int(name)).unwrap_or(0);
        // Bad overrides were refused when the configuration was validated.
        let overrides = parse_per_ip_overrides(&config.string("max.connections.per.ip.overrides"))
            .unwrap_or_default();
        Self::new(
            count("max.connections"),
            count("max.connections.per.ip"),
            overrides,
        )
    }

    /// Waits until the broker is below `max.connections`.
    pub async fn slot(&self) -> ConnectionSlot {
        // The semaphore is never closed, so acquiring only ever waits.
        loop {
            if let Ok(permit) = Arc::clone(&self.free).acquire_owned().await {
                return ConnectionSlot { _permit: permit };
            }
        }
    }

    /// Admits a connection from `ip` into `slot`, unless `ip` is at its limit.
    pub fn admit(
        &self,
        ip: IpAddr,
        slot: ConnectionSlot,
    ) -> Result<ConnectionPermit, PerIpLimitReached> {
        let limit = self.per_ip_limit(ip);
        let mut open = self.open_by_ip.lock();
        let count = open.entry(ip).or_insert(0);
        if *count >= limit {
            if *count == 0 {
                open.remove(&ip);
            }
            return Err(PerIpLimitReached { limit });
        }
        *count += 1;
        Ok(ConnectionPermit {
            ip,
            open_by_ip: Arc::clone(&self.open_by_ip),
            _slot: slot,
        })
    }

    /// Connections open from `ip` now.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        self.open_by_ip.lock().get(&ip).copied().unwrap_or(0)
    }

    fn per_ip_limit(&self, ip: IpAddr) -> usize {
        self.per_ip_overrides
            .get(&ip)
            .copied()
            .unwrap_or(self.per_ip_max)
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut open = self.open_by_ip.lock();
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Parses Kafka's `max.connections.per.ip.overrides`: `address:count` pairs separated
/// by commas. Kafka also takes host names and resolves them; Moldau takes IP addresses
/// only and says so rather than resolving names at start-up.
pub fn parse_per_ip_overrides(text: &str) -> Result<HashMap<IpAddr, usize>, String> {
    let mut overrides = HashMap::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (host, count) = entry
            .rsplit_once(':')
            .ok_or_else(|| format!("'{entry}' is not ADDRESS:COUNT"))?;
        let host = host.trim().trim_matches(['[', ']']);
        let ip: IpAddr = host
            .parse()
            .map_err(|_| format!("'{host}' is not an IP address (host names are not supported)"))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| format!("'{count}' in '{entry}' is not a connection count"))?;
        overrides.insert(ip, count as usize);
    }
    Ok(overrides)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn per_ip_limit_counts_open_connections_per_address() {
        let limits = ConnectionLimits::new(100, 2, HashMap::from([(ip("10.0.0.9"), 0)]));
        let a = limits.admit(ip("10.0.0.1"), limits.slot().await).unwrap();
        let _b = limits.admit(ip("10.0.0.1"), limits.slot().await).unwrap();
        assert_eq!(
            limits.admit(ip("10.0.0.1"), limits.slot().await).err(),
            Some(PerIpLimitReached { limit: 2 })
        );
        // Another address has its own count; an override replaces the default.
        assert!(limits.admit(ip("10.0.0.2"), limits.slot().await).is_ok());
        assert!(limits.admit(ip("10.0.0.9"), limits.slot().await).is_err());
        drop(a);
        assert_eq!(limits.open_from(ip("10.0.0.1")), 1);
        assert!(limits.admit(ip("10.0.0.1"), limits.slot().await).is_ok());
    }

    #[tokio::test]
    async fn broker_wide_limit_waits_for_a_connection_to_close() {
        let limits = ConnectionLimits::new(1, 10, HashMap::new());
        let first = limits.admit(ip("10.0.0.1"), limits.slot().await).unwrap();
        assert_eq!(limits.free.available_permits(), 0);
        let waiting = tokio::spawn({
            let free = Arc::clone(&limits.free);
            async move { free.acquire_owned().await.is_ok() }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(first);
        assert!(waiting.await.unwrap());
    }

    #[test]
    fn overrides_parse_addresses_and_refuse_names() {
        let o = parse_per_ip_overrides("127.0.0.1:5, [::1]:7 ,").unwrap();
        assert_eq!(o[&ip("127.0.0.1")], 5);
        assert_eq!(o[&ip("::1")], 7);
        assert!(parse_per_ip_overrides("").unwrap().is_empty());
        let err = parse_per_ip_overrides("broker1:5").unwrap_err();
        assert!(err.contains("host names"), "{err}");
        assert!(parse_per_ip_overrides("127.0.0.1").is_err());
        assert!(parse_per_ip_overrides("127.0.0.1:-1").is_err());
    }
}
