//! The library side of the `irprep` binary: what its commands do, without
//! flags or printing.
//!
//! - [`ops`]: one module per job that spans the core, engine and AWS crates
//!   (the drill, running scenarios live); functions take typed options and
//!   return typed results;
//! - [`exit`]: the exit status every command ends with.
//!
//! The binary (`main.rs`, `commands/`) parses flags, calls these, and
//! prints.

pub mod exit;
pub mod ops;
