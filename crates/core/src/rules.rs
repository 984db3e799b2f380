//! Ignore rules: parsing and validation, precedence, matching (at or beneath the rule's path,
//! `[N]` as the N-th desired item, `*`/`[*]` wildcards, optional `resource_ref` and
//! `managed_by`) and the suppressed-finding records that keep the rule's name and reason as
//! they were at analysis time.
//!
//! Precedence (first match wins): application rules with a `resource_ref`, application rules
//! without one, workspace rules with a `resource_ref`, workspace rules without one; within a
//! group by `order` (the caller's creation order, oldest first), then name, then input order.

use serde_json::Value;

use crate::diff::Finding;
use crate::error::{Error, Result};
use crate::identity::{ResourceId, ResourceRef};
use crate::paths::{self, DriftPath, Positions, Verdict};
use crate::string_enum::string_enum;

string_enum! {
    /// Where a rule is defined: `application` or `workspace`, as the API and the database
    /// spell it.
    pub enum RuleScope {
        Application => "application",
        /// Inherited by every application of the workspace.
        Workspace => "workspace",
    }
}

/// An ignore rule as stored or written in a rules file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IgnoreRule {
    pub name: String,
    /// One drift path; surrounding whitespace is ignored.
    #[serde(alias = "match")]
    pub match_expression: String,
    #[serde(default)]
    pub resource_ref: Option<String>,
    /// Suppress only when this manager owns the field.
    #[serde(default)]
    pub managed_by: Option<String>,
    #[serde(default)]
    pub reason: String,
    #[serde(default = "default_scope")]
    pub scope: RuleScope,
    /// Creation order within the scope (oldest first); rules files use their position.
    #[serde(default)]
    pub order: i64,
    #[serde(default = "default_enabled")]
    pub enabled: bool,
}

fn default_scope() -> RuleScope {
    RuleScope::Application
}
fn default_enabled() -> bool {
    true
}

/// A rule name and reason copied into a suppression record. The scope tells an application
/// rule from a workspace rule of the same name; the offline report shows only name and reason.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleSnapshot {
    pub name: String,
    pub reason: String,
    #[serde(skip)]
    pub scope: RuleScope,
}

/// A finding an ignore rule suppressed: it makes no incident.
#[derive(Debug, Clone, PartialEq)]
pub struct SuppressedFinding {
    pub finding: Finding,
    pub rule: RuleSnapshot,
}

/// A validated rule, ready to match.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub rule: IgnoreRule,
    pub path: DriftPath,
    pub resource_ref: Option<ResourceRef>,
}

impl IgnoreRule {
    /// Validates the rule's path and resource reference.
    pub fn compile(&self) -> Result<CompiledRule> {
        let path = paths::parse(&self.match_expression)?;
        let resource_ref = match self
            .resource_ref
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
        {
            Some(r) => Some(ResourceRef::parse(r)?),
            None => None,
        };
        Ok(CompiledRule {
            rule: self.clone(),
            path,
            resource_ref,
        })
    }

    fn precedence(&self) -> (u8, i64, &str) {
        let specific = self
            .resource_ref
            .as_deref()
            .is_some_and(|r| !r.trim().is_empty());
        let group = match (self.scope, specific) {
            (RuleScope::Application, true) => 0,
            (RuleScope::Application, false) => 1,
            (RuleScope::Workspace, true) => 2,
            (RuleScope::Workspace, false) => 3,
        };
        (group, self.order, &self.name)
    }
}

/// Compiles the enabled rules in precedence order; invalid rules are returned with their error.
pub fn compile_rules(rules: &[IgnoreRule]) -> (Vec<CompiledRule>, Vec<(String, Error)>) {
    let mut ordered: Vec<&IgnoreRule> = rules.iter().filter(|r| r.enabled).collect();
    ordered.sort_by(|a, b| a.precedence().cmp(&b.precedence()));
    let mut compiled = Vec::new();
    let mut invalid = Vec::new();
    for rule in ordered {
        match rule.compile() {
            Ok(c) => compiled.push(c),
            Err(e) => invalid.push((rule.name.clone(), e)),
        }
    }
    (compiled, invalid)
}

impl CompiledRule {
    /// Whether this rule suppresses `finding` (`default_namespace` resolves namespace-less refs).
    pub fn matches(&self, finding: &Finding, default_namespace: &str) -> bool {
        self.verdict(
            &finding.resource,
            &finding.path,
            Positions::Known,
            |manager| finding.owners.iter().any(|o| o.manager == manager),
            default_namespace,
        ) == Verdict::Match
    }

    /// [`CompiledRule::matches`] for a finding as the API returns it (its path read back from
    /// text): the console's preview of a rule runs this very matcher, so what it shows and
    /// what the next analysis suppresses cannot disagree.
    pub fn preview(&self, target: &MatchTarget, default_namespace: &str) -> Verdict {
        self.verdict(
            &target.resource,
            &target.path,
            Positions::Unknown,
            |manager| target.managers.iter().any(|m| m == manager),
            default_namespace,
        )
    }

    fn verdict(
        &self,
        resource: &ResourceId,
        path: &DriftPath,
        positions: Positions,
        owned_by: impl Fn(&str) -> bool,
        default_namespace: &str,
    ) -> Verdict {
        let resource_matches = self
            .resource_ref
            .as_ref()
            .is_none_or(|r| r.matches(resource, default_namespace));
        let manager_matches = self.rule.managed_by.as_deref().is_none_or(owned_by);
        if !resource_matches || !manager_matches {
            return Verdict::NoMatch;
        }
        self.path.verdict(path, positions)
    }
}

/// What a rule is tried against when the finding comes from the API rather than the engine:
/// its resource, its parsed drift path and the managers owning the field.
#[derive(Debug, Clone)]
pub struct MatchTarget {
    pub resource: ResourceId,
    pub path: DriftPath,
    pub managers: Vec<String>,
}

impl MatchTarget {
    /// Reads a finding of the API; fails only if its path does not parse, which a finding
    /// the engine wrote never does.
    pub fn from_wire(finding: &crate::wire::Finding) -> Result<MatchTarget> {
        Ok(MatchTarget {
            resource: finding.resource.id(),
            path: paths::parse(&finding.path)?,
            managers: finding.owners.iter().map(|o| o.manager.clone()).collect(),
        })
    }
}

/// Splits findings into kept and suppressed, the first matching rule (in the given order) winning.
pub fn apply_rules(
    findings: Vec<Finding>,
    rules: &[CompiledRule],
    default_namespace: &str,
) -> (Vec<Finding>, Vec<SuppressedFinding>) {
    let mut kept = Vec::new();
    let mut suppressed = Vec::new();
    for finding in findings {
        match rules
            .iter()
            .find(|r| r.matches(&finding, default_namespace))
        {
            Some(rule) => suppressed.push(SuppressedFinding {
                finding,
                rule: RuleSnapshot {
                    name: rule.rule.name.clone(),
                    reason: rule.rule.reason.clone(),
                    scope: rule.rule.scope,
                },
            }),
            None => kept.push(finding),
        }
    }
    (kept, suppressed)
}

/// Reads a rules file (YAML or JSON): a list of rules, or `{rules: [...]}`. Each rule has
/// `name`, `match` (or `match_expression`), optional `resource_ref`, `managed_by`, `reason`,
/// `scope` and `enabled`; its position gives its order. Every rule is validated.
pub fn parse_rules_file(origin: &str, bytes: &[u8]) -> Result<Vec<IgnoreRule>> {
    let invalid = |message: String| Error::InvalidRules {
        origin: origin.to_owned(),
        message,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| invalid(format!("not UTF-8 text ({e})")))?;
    let value: Value = if text.trim().is_empty() {
        Value::Array(Vec::new())
    } else {
        let options = serde_saphyr::options! { legacy_octal_numbers: true, with_snippet: false };
        serde_saphyr::from_str_with_options(text, options).map_err(|e| invalid(e.to_string()))?
    };
    let list = match value {
        Value::Array(items) => items,
        Value::Object(mut map) => match map.remove("rules") {
            Some(Value::Array(items)) => items,
            _ => {
                return Err(invalid(
                    "expected a list of rules or a `rules:` list".into(),
                ));
            }
        },
        Value::Null => Vec::new(),
        _ => {
            return Err(invalid(
                "expected a list of rules or a `rules:` list".into(),
            ));
        }
    };
    let mut rules = Vec::with_capacity(list.len());
    for (i, item) in list.into_iter().enumerate() {
        let mut rule: IgnoreRule =
            serde_json::from_value(item).map_err(|e| invalid(format!("rule {}: {e}", i + 1)))?;
        rule.order = i as i64;
        rule.compile()
            .map_err(|e| invalid(format!("rule {} ({}): {e}", i + 1, rule.name)))?;
        rules.push(rule);
    }
    Ok(rules)
}
