//! Where clients reach each client listener of this node: known once the listeners are
//! bound (a port-0 listener advertises the port it got).

/// One listener's advertised address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvertisedListener {
    pub name: String,
    pub host: String,
    pub port: i32,
}

/// The advertised address of every client listener of this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvertisedListeners {
    entries: Vec<AdvertisedListener>,
    /// Index of the inter-broker listener in `entries`.
    inter_broker: usize,
}

impl AdvertisedListeners {
    /// `inter_broker` must be one of `entries`: it is the address this node registers.
    pub fn new(entries: Vec<AdvertisedListener>, inter_broker: &str) -> Self {
        let position = entries.iter().position(|e| e.name == inter_broker);
        assert!(
            position.is_some(),
            "the inter-broker listener {inter_broker} is advertised"
        );
        AdvertisedListeners {
            entries,
            inter_broker: position.unwrap_or_default(),
        }
    }

    /// The address clients that came in on `listener` are given.
    pub fn on(&self, listener: &str) -> Option<&AdvertisedListener> {
        self.entries.iter().find(|e| e.name == listener)
    }

    /// The address other brokers use, registered in the cluster metadata.
    pub fn inter_broker(&self) -> &AdvertisedListener {
        &self.entries[self.inter_broker]
    }

    pub fn iter(&self) -> impl Iterator<Item = &AdvertisedListener> {
        self.entries.iter()
    }
}

/// A single PLAINTEXT listener at (host, port), as tests and one-listener setups have.
impl From<(String, i32)> for AdvertisedListeners {
    fn from((host, port): (String, i32)) -> Self {
        AdvertisedListeners::new(
            vec![AdvertisedListener {
                name: "PLAINTEXT".into(),
                host,
                port,
            }],
            "PLAINTEXT",
        )
    }
}
