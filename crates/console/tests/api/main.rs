//! API tests of the console against an in-process broker: every endpoint, bad input,
//! the request guard, lag on compacted and retention-trimmed topics, and a `/metrics`
//! scrape checked against what Kafka clients produced and consumed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should panic

mod cluster;
mod groups;
mod harness;
mod login;
mod metrics;
mod records;
mod topics;
