//! The StateSight worker as a library, so tests and benchmarks drive the same code as the
//! binary. For now it holds the offline `diff` command: argument types, input loading
//! (files and directories, walked in a stable order) and the text and JSON reports.

pub mod cli;
pub mod diff_command;
pub mod inputs;
pub mod text_report;
