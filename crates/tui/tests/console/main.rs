//! The console's tests, in one binary: `update` (pure), drawing (snapshots), the docs, a
//! real server in process, and the real binary in tmux.

mod docs;
mod draw;
mod events;
mod fixtures;
mod investigate;
mod live;
mod served;
mod tmux;
mod update;
