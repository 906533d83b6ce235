//! The `smi-bridge` command's library: the registry of mesh backends and the offline renderer,
//! shared by the binary and the integration tests.
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod backends;
pub mod files;
pub mod render;
