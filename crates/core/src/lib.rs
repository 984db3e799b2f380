//! StateSight's pure domain: resource identity, manifest parsing, normalization, the drift
//! engine, drift paths, ignore rules, incidents, recommendations and API wire types.
//! Architecture invariant: nothing in this crate performs I/O (no tokio, SQL, Redis or HTTP);
//! callers hand it `(origin_name, bytes)` and already-parsed values.

pub mod analysis;
pub mod applier;
pub mod attribution;
pub mod audit_chain;
pub mod bookkeeping;
pub mod diff;
pub mod error;
pub mod fields;
pub mod git_history;
pub mod identity;
pub mod incident;
pub mod k8s_audit;
pub mod lifecycle;
pub mod manifest;
pub mod normalize;
pub mod paths;
pub mod quantity;
pub mod recommend;
pub mod report;
pub mod rules;
pub mod secret;
pub mod source;
pub mod string_enum;
pub mod terminal;
pub mod wire;

pub use analysis::{Analysis, AnalyzeOptions, Problem, analyze};
pub use bookkeeping::{BookkeepingKey, MetadataMap};
pub use diff::{Cause, ChangeKind, Finding, Owner, OwnerRole, cause_label};
pub use error::{Error, Result, SyntaxError};
pub use identity::{ResourceId, ResourceRef};
pub use incident::{Incident, Severity};
pub use manifest::{ManifestObject, Origin, ParsedManifests, parse_manifests};
pub use paths::{DriftPath, Segment};
pub use recommend::Recommendation;
pub use rules::{IgnoreRule, RuleScope, SuppressedFinding};
pub use secret::{SecretDigester, SecretKeyError};
