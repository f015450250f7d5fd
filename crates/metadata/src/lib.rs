//! moldau-metadata (see DESIGN.md).
