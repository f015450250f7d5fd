//! Kafka wire protocol pieces shared by the broker, the client and the log.
//!
//! Message types come from the `kafka-protocol` crate (re-exported as [`kafka`]); this
//! crate adds what a server and a client need around them: frame limits, request
//! header parsing, the table of API versions Moldau supports, and the one record-batch
//! codec: a zero-copy batch view, a bounded record iterator, bounded decompression,
//! the batch builder, varints and the produce-side validation. It does no I/O.

#![forbid(unsafe_code)]

pub mod acl;
pub mod batch;
pub mod batch_builder;
pub mod batch_encode;
pub mod batch_header;
pub mod compression;
pub mod control_record;
pub mod frame;
pub mod otlp;
pub mod produce_validation;
pub mod record;
pub mod throttle_field;
pub mod throttle_versions;
pub mod varint;
pub mod versions;

pub use kafka_protocol as kafka;
pub use kafka_protocol::error::ResponseError;

/// Kafka error code 0: no error.
pub const NONE: i16 = 0;

/// Numeric code of a Kafka error, as it goes on the wire.
pub fn code(err: ResponseError) -> i16 {
    err.code()
}
