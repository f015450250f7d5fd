//! moldau-coordinator (see DESIGN.md).
