//! The interactive console: what `statesight-tui` opens with no command.
//!
//! - [`app`]: the state and its one transition, `update(&mut App, Msg) -> Vec<Cmd>` (pure).
//! - [`draw`]: a pure function of the state onto a frame.
//! - [`runtime`]: the terminal, the event loop and the background requests.
//! - [`keys`], [`palette`], [`theme`], [`table`], [`model`], [`text`]: key bindings and
//!   `keys.toml`, the `:` palette, colours and `NO_COLOR`, table state, the screens' rows
//!   built from the API's wire types, and terminal-safe text.
//! - [`incident`], [`evidence`], [`rule_editor`]: the incident screen's state, its evidence
//!   pane's lines, and the ignore-rule editor with its live preview (their transitions
//!   live in `investigate` and `rule_actions`, their drawing in `investigate_view`).
//! - [`workspace_rules`]: workspace-wide rules, saved only after the server's preview
//!   across every application has been shown and accepted.
//! - [`yaml`], [`highlight`], [`linediff`], [`clipboard`]: the evidence pane's pure parts:
//!   a finding's values as safe YAML lines, their syntax colours for the terminal's depth,
//!   the desired/live line diff and wrapping, and copying through OSC 52.
//!
//! - [`live`]: what the workspace's event stream changes on screen (the runtime holds the
//!   subscription, reconnecting with backoff and falling back to polling).
//!
//! `docs/console.md` is the user's guide.

pub mod app;
mod application;
pub mod appscreen;
pub mod clipboard;
pub mod draw;
pub mod evidence;
pub mod highlight;
pub mod incident;
mod investigate;
mod investigate_view;
pub mod keys;
pub mod linediff;
pub mod live;
pub mod model;
pub mod palette;
mod rule_actions;
pub mod rule_editor;
pub mod runtime;
mod subscription;
pub mod table;
pub mod text;
pub mod theme;
pub mod workspace_rules;
pub mod yaml;

pub use runtime::run;
