//! The StateSight worker as a library, so tests and benchmarks drive the same code as the
//! binary: the queue consumer (`runtime`, `serve`), the analysis `pipeline` with its inputs
//! (`git`, `collect`), attribution from stored audit events (`attribution`), and the offline
//! `diff` command with its reports.

pub mod attribution;
pub mod cli;
pub mod collect;
pub mod diff_command;
pub mod digest_key;
pub mod git;
pub mod inputs;
pub mod notify;
pub mod pipeline;
pub mod runtime;
pub mod schedule;
pub mod serve;
pub mod settings;
pub mod since;
pub mod telemetry;
pub mod text_report;
pub mod watch;
