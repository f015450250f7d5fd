//! moldau-log (see DESIGN.md).
