//! State-machine tests of the coordinator, driven with explicit time.

mod admin_tests;
mod consumer_group_tests;
mod garbage_tests;
mod harness;
mod membership_tests;
mod migration_tests;
mod offsets_tests;
mod pending_revocation_tests;
mod rack_tests;
mod regex_acl_tests;
mod replay_tests;
mod rollback_tests;
mod static_tests;
mod txn_offsets_tests;
mod versions_tests;
