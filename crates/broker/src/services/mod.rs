//! The narrow services a handler is given instead of the whole broker (DESIGN.md,
//! "Inside the broker"): each is a cheap handle, cloned per request, that exposes
//! only what its part of the broker offers. A handler reaches them through
//! [`crate::request::RequestContext`]'s accessors (`ctx.partitions()`,
//! `ctx.metadata()`, …) and never names `Broker`.
//!
//! Today every handle shares the broker's one `Arc`; narrowing what a handle holds
//! changes no handler.

mod controller;
mod fetch_sessions;
mod groups;
mod metadata_view;
mod partitions;
mod quotas;
mod transactions;

pub use controller::Controller;
pub use fetch_sessions::FetchSessions;
pub use groups::Groups;
pub use metadata_view::MetadataView;
pub use partitions::Partitions;
pub use quotas::Quotas;
pub use transactions::Transactions;
