//! Producer settings, named after the Java client's properties, and their builder.

use std::time::Duration;

use crate::cluster::ClientConfig;
use crate::codec::Compression;
use crate::error::{Error, Result};
use crate::property;

/// Java's `batch.size` default, in bytes.
pub const BATCH_SIZE_BYTES_DEFAULT: usize = 16 * 1024;
/// Java's `linger.ms` default (Kafka 4.0).
pub const LINGER_DEFAULT: Duration = Duration::from_millis(5);
/// Java's `buffer.memory` default, in bytes.
pub const BUFFER_MEMORY_BYTES_DEFAULT: usize = 32 * 1024 * 1024;
/// Java's `max.request.size` default, in bytes.
pub const MAX_REQUEST_SIZE_BYTES_DEFAULT: usize = 1024 * 1024;
/// Java's `delivery.timeout.ms` default.
pub const DELIVERY_TIMEOUT_DEFAULT: Duration = Duration::from_secs(120);
/// Java's `transaction.timeout.ms` default.
pub const TRANSACTION_TIMEOUT_DEFAULT: Duration = Duration::from_secs(60);
/// Java's `max.block.ms` default.
pub const MAX_BLOCK_DEFAULT: Duration = Duration::from_secs(60);
/// Java's `max.in.flight.requests.per.connection` default.
pub const MAX_IN_FLIGHT_PER_CONNECTION_DEFAULT: usize = 5;
/// Retries allowed per batch by default (Java: effectively unbounded, capped by the
/// delivery timeout).
pub const RETRIES_DEFAULT: u32 = i32::MAX as u32;

/// `acks`: how many replicas must have a batch before the broker answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Acks {
    /// `acks=0`: no answer at all; offsets are reported as -1.
    None,
    /// `acks=1`: the leader wrote it.
    Leader,
    /// `acks=all`: every in-sync replica has it.
    #[default]
    All,
}

impl Acks {
    /// The value on the wire.
    pub fn wire(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }

    /// Parses `0`, `1`, `all` or `-1`.
    pub fn from_name(s: &str) -> Result<Acks> {
        match s {
            "0" => Ok(Acks::None),
            "1" => Ok(Acks::Leader),
            "all" | "-1" => Ok(Acks::All),
            other => Err(Error::Config(format!(
                "acks must be 0, 1 or all, not {other}"
            ))),
        }
    }
}

/// Every producer setting.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// Connection and metadata settings.
    pub client: ClientConfig,
    /// `acks`.
    pub acks: Acks,
    /// `batch.size`: a partition's batch is sealed once this many bytes are in it.
    pub batch_size_bytes: usize,
    /// `linger.ms`: how long a batch waits for more records before it is sent.
    pub linger: Duration,
    /// `buffer.memory`: bytes of unsent records; `send` waits when it is used up.
    pub buffer_memory_bytes: usize,
    /// `compression.type`.
    pub compression: Compression,
    /// `retries`: resends allowed per batch on retriable errors.
    pub retries: u32,
    /// `delivery.timeout.ms`: a record fails if not acknowledged in this time.
    pub delivery_timeout: Duration,
    /// `max.block.ms`: how long `send` may wait for metadata or buffer memory.
    pub max_block: Duration,
    /// `max.request.size`: largest produce request, and so largest record, in bytes.
    pub max_request_size_bytes: usize,
    /// `max.in.flight.requests.per.connection`.
    pub max_in_flight_per_connection: usize,
    /// `enable.idempotence`: stamp batches with a producer id and sequences, so up
    /// to five batches per partition can be in flight without retries reordering
    /// or duplicating them. `None` (the default) means on when `acks=all`, as in
    /// the Java client.
    pub enable_idempotence: Option<bool>,
    /// `transactional.id`: makes the producer transactional (idempotence is then
    /// on); transactions go through `init_transactions`, `begin_transaction`,
    /// `commit_transaction` / `abort_transaction`.
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms`: the coordinator aborts a transaction open longer.
    pub transaction_timeout: Duration,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            client: ClientConfig {
                allow_auto_topic_creation: true,
                ..ClientConfig::default()
            },
            acks: Acks::default(),
            batch_size_bytes: BATCH_SIZE_BYTES_DEFAULT,
            linger: LINGER_DEFAULT,
            buffer_memory_bytes: BUFFER_MEMORY_BYTES_DEFAULT,
            compression: Compression::None,
            retries: RETRIES_DEFAULT,
            delivery_timeout: DELIVERY_TIMEOUT_DEFAULT,
            max_block: MAX_BLOCK_DEFAULT,
            max_request_size_bytes: MAX_REQUEST_SIZE_BYTES_DEFAULT,
            max_in_flight_per_connection: MAX_IN_FLIGHT_PER_CONNECTION_DEFAULT,
            enable_idempotence: None,
            transactional_id: None,
            transaction_timeout: TRANSACTION_TIMEOUT_DEFAULT,
        }
    }
}

impl ProducerConfig {
    /// Whether batches are sent idempotently.
    pub fn idempotent(&self) -> bool {
        self.enable_idempotence
            .unwrap_or(self.acks == Acks::All || self.transactional_id.is_some())
    }

    /// Checks the settings for values that cannot work.
    pub fn validate(&self) -> Result<()> {
        if self.enable_idempotence == Some(true) && self.acks != Acks::All {
            return Err(Error::Config("enable.idempotence needs acks=all".into()));
        }
        if let Some(id) = &self.transactional_id {
            if id.is_empty() {
                return Err(Error::Config("transactional.id must not be empty".into()));
            }
            if self.enable_idempotence == Some(false) || self.acks != Acks::All {
                return Err(Error::Config(
                    "transactional.id needs idempotence (enable.idempotence, acks=all)".into(),
                ));
            }
            if self.transaction_timeout.as_millis() > i32::MAX as u128
                || self.transaction_timeout.is_zero()
            {
                return Err(Error::Config(
                    "transaction.timeout.ms must be between 1 and 2147483647".into(),
                ));
            }
        }
        if self.batch_size_bytes == 0 {
            return Err(Error::Config("batch.size must be positive".into()));
        }
        if self.buffer_memory_bytes < self.batch_size_bytes {
            return Err(Error::Config(
                "buffer.memory must be at least batch.size".into(),
            ));
        }
        if self.max_request_size_bytes > u32::MAX as usize / 2 {
            return Err(Error::Config("max.request.size is too large".into()));
        }
        if self.max_in_flight_per_connection == 0 {
            return Err(Error::Config(
                "max.in.flight.requests.per.connection must be positive".into(),
            ));
        }
        Ok(())
    }

    /// Applies one Kafka-style property (`linger.ms=5`), as the CLI passes them.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        if let Some(outcome) = property::set_common(&mut self.client, key, value) {
            return outcome;
        }
        let ms = |v: &str| property::millis(key, v);
        let bytes = |v: &str| -> Result<usize> {
            v.parse::<usize>()
                .map_err(|_| Error::Config(format!("{key} must be a byte count, not {v}")))
        };
        match key {
            "acks" => self.acks = Acks::from_name(value)?,
            "batch.size" => self.batch_size_bytes = bytes(value)?,
            "linger.ms" => self.linger = ms(value)?,
            "buffer.memory" => self.buffer_memory_bytes = bytes(value)?,
            "compression.type" => self.compression = Compression::from_name(value)?,
            "retries" => {
                self.retries = value
                    .parse()
                    .map_err(|_| Error::Config(format!("retries must be a count, not {value}")))?
            }
            "delivery.timeout.ms" => self.delivery_timeout = ms(value)?,
            "max.block.ms" => self.max_block = ms(value)?,
            "max.request.size" => self.max_request_size_bytes = bytes(value)?,
            "max.in.flight.requests.per.connection" => {
                self.max_in_flight_per_connection = bytes(value)?
            }
            "enable.idempotence" => self.enable_idempotence = Some(property::boolean(key, value)?),
            "transactional.id" => self.transactional_id = Some(value.to_string()),
            "transaction.timeout.ms" => self.transaction_timeout = ms(value)?,
            other => return Err(Error::Config(format!("unknown producer property {other}"))),
        }
        Ok(())
    }
}

/// Builds a [`crate::producer::Producer`].
#[derive(Debug, Clone, Default)]
pub struct ProducerBuilder {
    config: ProducerConfig,
}

impl ProducerBuilder {
    /// Starts from the defaults with these bootstrap servers (comma separated).
    pub fn new(bootstrap_servers: &str) -> ProducerBuilder {
        let mut config = ProducerConfig::default();
        config.client.bootstrap_servers = bootstrap_servers
            .split(',')
            .map(|s| s.trim().to_string())
            .collect();
        ProducerBuilder { config }
    }

    /// Sets `acks`.
    pub fn acks(mut self, acks: Acks) -> Self {
        self.config.acks = acks;
        self
    }
    /// Sets `batch.size` in bytes.
    pub fn batch_size_bytes(mut self, n: usize) -> Self {
        self.config.batch_size_bytes = n;
        self
    }
    /// Sets `linger.ms`.
    pub fn linger(mut self, d: Duration) -> Self {
        self.config.linger = d;
        self
    }
    /// Sets `buffer.memory` in bytes.
    pub fn buffer_memory_bytes(mut self, n: usize) -> Self {
        self.config.buffer_memory_bytes = n;
        self
    }
    /// Sets `compression.type`.
    pub fn compression(mut self, c: Compression) -> Self {
        self.config.compression = c;
        self
    }
    /// Sets `retries`.
    pub fn retries(mut self, n: u32) -> Self {
        self.config.retries = n;
        self
    }
    /// Sets `delivery.timeout.ms`.
    pub fn delivery_timeout(mut self, d: Duration) -> Self {
        self.config.delivery_timeout = d;
        self
    }
    /// Sets `enable.idempotence`.
    pub fn enable_idempotence(mut self, on: bool) -> Self {
        self.config.enable_idempotence = Some(on);
        self
    }
    /// Sets `transactional.id` (the producer becomes transactional).
    pub fn transactional_id(mut self, id: &str) -> Self {
        self.config.transactional_id = Some(id.to_string());
        self
    }
    /// Sets `transaction.timeout.ms`.
    pub fn transaction_timeout(mut self, d: Duration) -> Self {
        self.config.transaction_timeout = d;
        self
    }
    /// Sets `client.id`.
    pub fn client_id(mut self, id: &str) -> Self {
        self.config.client.connection.client_id = id.to_string();
        self
    }
    /// Sets any Kafka-style property by name.
    pub fn set(mut self, key: &str, value: &str) -> Result<Self> {
        self.config.set(key, value)?;
        Ok(self)
    }
    /// Replaces the whole configuration.
    pub fn config(mut self, config: ProducerConfig) -> Self {
        self.config = config;
        self
    }
    /// The configuration built so far.
    pub fn config_ref(&self) -> &ProducerConfig {
        &self.config
    }
    /// Validates the settings and starts the producer (its sender task runs on the
    /// current tokio runtime; outside one this is an error).
    pub fn build(self) -> Result<crate::producer::Producer> {
        crate::producer::Producer::new(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn building_outside_a_runtime_is_an_error_not_a_panic() {
        let err = ProducerBuilder::new("127.0.0.1:1").build().unwrap_err();
        assert!(matches!(err, Error::Config(_)));
        let err = crate::consumer::ConsumerBuilder::new("127.0.0.1:1")
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)));
    }

    #[test]
    fn idempotence_follows_acks_unless_set() {
        let mut c = ProducerConfig::default();
        assert!(c.idempotent());
        c.set("acks", "1").unwrap();
        assert!(!c.idempotent());
        c.set("enable.idempotence", "true").unwrap();
        assert!(c.validate().is_err());
        c.set("acks", "all").unwrap();
        c.validate().unwrap();
        c.set("enable.idempotence", "false").unwrap();
        assert!(!c.idempotent());
    }

    #[test]
    fn properties_parse_and_validate() {
        let mut c = ProducerConfig::default();
        c.set("linger.ms", "20").unwrap();
        c.set("acks", "1").unwrap();
        c.set("compression.type", "lz4").unwrap();
        c.set("bootstrap.servers", "a:1, b:2").unwrap();
        assert_eq!(c.linger, Duration::from_millis(20));
        assert_eq!(c.acks, Acks::Leader);
        assert_eq!(c.compression, Compression::Lz4);
        assert_eq!(c.client.bootstrap_servers, vec!["a:1", "b:2"]);
        assert!(c.set("linger.ms", "soon").is_err());
        assert!(c.set("no.such", "1").is_err());
        c.validate().unwrap();
        c.buffer_memory_bytes = 10;
        assert!(c.validate().is_err());
    }
}
