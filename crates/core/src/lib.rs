//! irprep's core: everything that can be tested and fuzzed without AWS.
//!
//! - [`table`]: one definition per log table (Arrow schema, Athena DDL, formats);
//! - [`layout`]: S3 key layouts and the partition values they carry;
//! - [`ddl`]: Athena/Glue tables generated from those definitions;
//! - [`source`]: where log files come from (local discovery, the remote-object interface);
//! - [`json`], [`build`], [`cloudtrail`], [`flow`], [`dns`], [`decompress`]: record readers;
//!
//! Nothing here depends on the AWS SDK or an async runtime.

pub mod analytics;
pub mod attack;
pub mod build;
pub mod cloudtrail;
pub mod collect;
pub mod ddl;
pub mod decompress;
pub mod detect;
pub mod dns;
pub mod flow;
pub mod flow_parquet;
pub mod integrity;
pub mod json;
pub mod layout;
pub mod queries;
pub mod scenario;
pub mod sigma;
pub mod source;
pub mod sql;
pub mod synth;
pub mod table;
pub mod tables;
pub mod timeparse;

pub use arrow_array;
pub use arrow_schema;

/// The content catalogue embedded at build time (see build.rs).
pub mod content {
    include!(concat!(env!("OUT_DIR"), "/content.rs"));
}
