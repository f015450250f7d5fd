//! State-machine tests of the coordinator, driven with explicit time.

mod harness;
mod membership_tests;
mod static_tests;
