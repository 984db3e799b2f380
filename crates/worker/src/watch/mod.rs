//! Watching clusters: one worker at a time (under a Redis lease) holds one watch per
//! (kind, namespace) the cluster's applications track, keeps what it sees in the cluster's
//! live-state cache, and asks for a re-analysis of each application whose objects changed,
//! debounced. Any worker's analysis may then read the cache instead of the API server.

pub mod cache;
