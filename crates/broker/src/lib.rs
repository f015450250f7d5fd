//! moldau-broker (see DESIGN.md).
