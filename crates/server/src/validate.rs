//! Turns request bodies into validated store values. Every refusal is a 422 naming the
//! field; drift-path and resource-reference errors also point at the offending character.

use statesight_core::source::{self, InputPolicy, Invalid};
use statesight_core::terminal::escape_for_terminal;
use statesight_core::wire::{
    ApplicationInput, ClusterInput, ErrorDetails, IgnoreRuleInput, IgnoreRulePatch, LiveSource,
    SourceInput, SyntaxDetails,
};
use statesight_store::onboarding::{ApplicationValues, ClusterValues, SourceValues};
use statesight_store::rules::RuleValues;

use crate::error::ApiError;

fn optional(
    value: Option<&str>,
    check: impl Fn(&str) -> Result<String, Invalid>,
) -> Result<Option<String>, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => Ok(Some(check(value)?)),
    }
}

/// A cluster as an operator typed it; its paths must lie under the installation's roots.
pub fn cluster(input: &ClusterInput, policy: &InputPolicy) -> Result<ClusterValues, ApiError> {
    let name = source::display_name("name", &input.name)?;
    let description = input.description.trim().to_owned();
    if description.chars().count() > 1000 {
        return Err(Invalid {
            field: "description",
            message: String::from("must be at most 1000 characters"),
        }
        .into());
    }
    let kubeconfig_path = optional(input.kubeconfig_path.as_deref(), |v| {
        policy.kubeconfig_roots.check("kubeconfig_path", v)
    })?;
    let context = optional(input.context.as_deref(), source::context)?;
    let snapshot_dir = optional(input.snapshot_dir.as_deref(), |v| {
        policy.snapshot_roots.check("snapshot_dir", v)
    })?;
    let refuse = |field: &'static str, message: &str| -> ApiError {
        Invalid {
            field,
            message: message.to_owned(),
        }
        .into()
    };
    match input.live_source {
        LiveSource::Snapshot => {
            if snapshot_dir.is_none() {
                return Err(refuse(
                    "snapshot_dir",
                    "is required when live_source is snapshot",
                ));
            }
            if kubeconfig_path.is_some() || context.is_some() {
                return Err(refuse(
                    "live_source",
                    "a snapshot cluster takes only snapshot_dir (no kubeconfig_path or context)",
                ));
            }
        }
        LiveSource::InCluster => {
            if kubeconfig_path.is_some() || context.is_some() || snapshot_dir.is_some() {
                return Err(refuse(
                    "live_source",
                    "an in-cluster cluster uses the worker's service account: give no kubeconfig_path, context or snapshot_dir",
                ));
            }
        }
        LiveSource::KubeApi | LiveSource::Kubectl => {
            if snapshot_dir.is_some() {
                return Err(refuse("snapshot_dir", "is only for live_source snapshot"));
            }
        }
    }
    if input.watch
        && !matches!(
            input.live_source,
            LiveSource::KubeApi | LiveSource::InCluster
        )
    {
        return Err(refuse(
            "watch",
            "only kube-api and in-cluster clusters can be watched (kubectl and snapshot clusters are read when an analysis runs)",
        ));
    }
    Ok(ClusterValues {
        name,
        description,
        live_source: input.live_source,
        kubeconfig_path,
        context,
        snapshot_dir,
        watch: input.watch,
    })
}

/// A source as an operator typed it: `file://` only where the installation allows it, never
/// credentials in the URL.
pub fn source_definition(
    input: &SourceInput,
    policy: &InputPolicy,
) -> Result<SourceValues, ApiError> {
    Ok(SourceValues {
        name: source::display_name("name", &input.name)?,
        repo_url: policy.repo_url(&input.repo_url)?,
        git_ref: source::git_ref("ref", &input.git_ref)?,
        path: source::source_path(&input.path)?,
    })
}

pub fn application(input: &ApplicationInput) -> Result<ApplicationValues, ApiError> {
    let description = input.description.trim().to_owned();
    if description.chars().count() > 1000 {
        return Err(Invalid {
            field: "description",
            message: String::from("must be at most 1000 characters"),
        }
        .into());
    }
    Ok(ApplicationValues {
        name: source::display_name("name", &input.name)?,
        description,
        cluster_id: input.cluster_id,
        source_id: input.source_id,
        default_namespace: source::namespace(&input.default_namespace)?,
    })
}

/// The revision of an analyze request: a ref or SHA, refused like any ref.
pub fn revision(value: Option<&str>) -> Result<Option<String>, ApiError> {
    optional(value, |v| source::git_ref("revision", v))
}

/// A syntax error in a drift path or resource reference, pointing at the character. The
/// input is quoted as a window of at most [`SYNTAX_CONTEXT`] characters each side of the
/// error, control and invisible characters escaped before the caret is placed, so a long or
/// hostile value neither floods the message nor misplaces the caret.
fn syntax_error(
    field: &'static str,
    input: &str,
    error: &statesight_core::SyntaxError,
) -> ApiError {
    let found = match error.found {
        Some(c) => escape_for_terminal(&c.to_string()).into_owned(),
        None => String::from("the end"),
    };
    let at = input[..floor_char_boundary(input, error.offset)]
        .chars()
        .count();
    let chars: Vec<char> = input.chars().collect();
    let start = at.saturating_sub(SYNTAX_CONTEXT);
    let end = (at + SYNTAX_CONTEXT).min(chars.len());
    let shown =
        |range: &[char]| escape_for_terminal(&range.iter().collect::<String>()).into_owned();
    let before = format!(
        "{}{}",
        if start > 0 { "…" } else { "" },
        shown(&chars[start..at])
    );
    let after = format!(
        "{}{}",
        shown(&chars[at..end]),
        if end < chars.len() { "…" } else { "" }
    );
    let caret = format!("{}^", " ".repeat(before.chars().count()));
    ApiError::Validation {
        message: format!(
            "{field}: expected {} at character {}, found {found}\n  {before}{after}\n  {caret}",
            error.expected,
            at + 1,
        ),
        details: Some(ErrorDetails::Syntax(SyntaxDetails {
            field: field.to_owned(),
            offset: error.offset,
            expected: error.expected.to_owned(),
            found: error.found.map(String::from),
        })),
    }
}

/// Characters of the input quoted on each side of a syntax error.
const SYNTAX_CONTEXT: usize = 32;

/// The largest char boundary of `text` at or before `offset`.
fn floor_char_boundary(text: &str, offset: usize) -> usize {
    (0..=offset.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

fn match_expression(value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Invalid {
            field: "match_expression",
            message: String::from(
                "must not be empty (an empty path would match the whole resource; use resource_ref for that)",
            ),
        }
        .into());
    }
    match statesight_core::paths::parse(value) {
        Ok(_) => Ok(value.to_owned()),
        Err(statesight_core::Error::InvalidPath { input, error }) => {
            Err(syntax_error("match_expression", &input, &error))
        }
        Err(other) => Err(ApiError::validation(format!("match_expression: {other}"))),
    }
}

fn resource_ref(value: Option<&str>) -> Result<Option<String>, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => match statesight_core::ResourceRef::parse(value) {
            Ok(_) => Ok(Some(value.to_owned())),
            Err(statesight_core::Error::InvalidResourceRef { input, error }) => {
                Err(syntax_error("resource_ref", &input, &error))
            }
            Err(other) => Err(ApiError::validation(format!("resource_ref: {other}"))),
        },
    }
}

fn managed_by(value: Option<&str>) -> Result<Option<String>, ApiError> {
    optional(value, |v| {
        if v.len() > 128 || v.chars().any(char::is_control) {
            Err(Invalid {
                field: "managed_by",
                message: String::from("must be a field manager name of at most 128 characters"),
            })
        } else {
            Ok(v.to_owned())
        }
    })
}

fn reason(value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 2000 {
        return Err(Invalid {
            field: "reason",
            message: String::from("must say why, in 1–2000 characters"),
        }
        .into());
    }
    Ok(value.to_owned())
}

pub fn rule(input: &IgnoreRuleInput) -> Result<RuleValues, ApiError> {
    Ok(RuleValues {
        name: source::display_name("name", &input.name)?,
        match_expression: match_expression(&input.match_expression)?,
        resource_ref: resource_ref(input.resource_ref.as_deref())?,
        managed_by: managed_by(input.managed_by.as_deref())?,
        reason: reason(&input.reason)?,
        enabled: input.enabled,
    })
}

/// Applies a PATCH onto the current rule and validates the result as a whole.
pub fn patched_rule(
    current: &statesight_core::wire::IgnoreRule,
    patch: &IgnoreRulePatch,
) -> Result<RuleValues, ApiError> {
    let merged = IgnoreRuleInput {
        name: patch.name.clone().unwrap_or_else(|| current.name.clone()),
        match_expression: patch
            .match_expression
            .clone()
            .unwrap_or_else(|| current.match_expression.clone()),
        resource_ref: patch
            .resource_ref
            .clone()
            .unwrap_or_else(|| current.resource_ref.clone()),
        managed_by: patch
            .managed_by
            .clone()
            .unwrap_or_else(|| current.managed_by.clone()),
        reason: patch
            .reason
            .clone()
            .unwrap_or_else(|| current.reason.clone()),
        enabled: patch.enabled.unwrap_or(current.enabled),
    };
    rule(&merged)
}
