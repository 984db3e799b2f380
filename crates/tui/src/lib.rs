//! `statesight-tui` as a library, so tests reach the console's drawing and the client
//! without a terminal. `main.rs` only parses the command line and dispatches.

pub mod auth;
pub mod blame;
pub mod cli;
pub mod client;
pub mod config;
pub mod console;
pub mod exit;
pub mod fsutil;
pub mod key_listing;
pub mod output;
pub mod scripting;
pub mod sse;
pub mod state;
