//! moldau-client (see DESIGN.md).
