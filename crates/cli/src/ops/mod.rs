//! Jobs that span the core, engine and AWS crates, as plain functions: typed
//! options in, typed results out, no flags and no printing (progress leaves
//! through callbacks).

pub mod collect;
pub mod drill;
pub mod integrity;
pub mod live;
pub mod report;
