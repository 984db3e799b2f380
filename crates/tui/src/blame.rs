//! `statesight-tui blame RESOURCE [PATH]`: for each open drifted field of one object, Git's
//! value and the commit that set it, next to the live value and who set it, with the
//! attribution grade. Everything comes from the API (the open findings of the workspace's
//! applications and their evidence); nothing is inferred here.

use std::process::ExitCode;

use serde::Serialize;
use serde_json::Value;
use statesight_core::identity::ResourceRef;
use statesight_core::wire::{
    Application, AttributedEvent, Attribution, DesiredSince, Finding, ResourceIdentity,
};
use uuid::Uuid;

use crate::cli::{BlameArgs, OutputFormat};
use crate::config::{Context, resolve_workspace};
use crate::exit::{self, UsageError};
use crate::output::{Table, safe_json};
use crate::scripting::{list_all, print_err, print_out};

/// Values are shown on one line, cut to this many characters (`-o json` has them whole).
const VALUE_CHARS: usize = 40;

/// One drifted field, as `-o json` prints it.
#[derive(Debug, Serialize)]
struct BlameRow {
    application: String,
    application_id: Uuid,
    resource: ResourceIdentity,
    path: String,
    change: String,
    desired: Option<Value>,
    live: Option<Value>,
    /// The commit that set Git's value (null in records analysed before it was looked up).
    since: Option<DesiredSince>,
    attribution: Attribution,
}

pub async fn run(context: &Context, args: &BlameArgs) -> anyhow::Result<ExitCode> {
    let reference = ResourceRef::parse(args.resource.trim())
        .map_err(|error| UsageError(format!("RESOURCE: {error}")))?;
    let workspace = resolve_workspace(context, None).await?;
    let mut applications: Vec<Application> =
        list_all(context, "/api/v1/applications?limit=500", workspace.id).await?;
    applications.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    if let Some(wanted) = &args.application {
        applications.retain(|a| &a.name == wanted || a.id.to_string() == *wanted);
        if applications.is_empty() {
            return Err(UsageError(format!(
                "no application {wanted:?} in workspace {:?}",
                workspace.name
            ))
            .into());
        }
    }
    let mut rows = Vec::new();
    for application in &applications {
        let path = format!("/api/v1/applications/{}/findings?limit=500", application.id);
        let findings: Vec<Finding> = list_all(context, &path, workspace.id).await?;
        rows.extend(
            findings
                .into_iter()
                .filter(|f| reference.matches(&f.resource.id(), &application.default_namespace))
                .filter(|f| under(&f.path, args.path.as_deref()))
                .map(|f| row(application, f)),
        );
    }
    rows.sort_by(|a, b| {
        (&a.application, a.resource.id(), &a.path).cmp(&(&b.application, b.resource.id(), &b.path))
    });
    if args.output == OutputFormat::Json {
        print_out(&safe_json(&serde_json::to_value(&rows)?));
        return Ok(exit::exit(exit::OK));
    }
    if rows.is_empty() {
        print_err(&format!(
            "no open drift on {reference}{} in workspace {}",
            args.path
                .as_deref()
                .map(|p| format!(" under {p}"))
                .unwrap_or_default(),
            workspace.name
        ));
        return Ok(exit::exit(exit::OK));
    }
    print_out(&table(&rows, args.output == OutputFormat::Wide));
    Ok(exit::exit(exit::OK))
}

/// Whether `path` is `wanted` or lies beneath it (`spec.template` covers
/// `spec.template.spec.containers[name=api].image`).
fn under(path: &str, wanted: Option<&str>) -> bool {
    let Some(wanted) = wanted.map(str::trim).filter(|w| !w.is_empty()) else {
        return true;
    };
    path == wanted
        || path
            .strip_prefix(wanted)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

fn row(application: &Application, finding: Finding) -> BlameRow {
    BlameRow {
        application: application.name.clone(),
        application_id: application.id,
        path: finding.path,
        change: finding.change.to_string(),
        desired: finding.desired,
        live: finding.live,
        since: finding.evidence.desired.since,
        attribution: finding.evidence.attribution,
        resource: finding.resource,
    }
}

fn table(rows: &[BlameRow], wide: bool) -> String {
    let mut headers = vec![
        "APPLICATION",
        "RESOURCE",
        "PATH",
        "GIT",
        "SET IN GIT BY",
        "LIVE",
        "SET LIVE BY",
        "GRADE",
    ];
    if wide {
        headers.extend(["AGENT", "FROM", "REASON"]);
    }
    let mut table = Table::new(headers);
    for row in rows {
        let event = deciding_event(&row.attribution);
        let mut cells = vec![
            row.application.clone(),
            resource_label(&row.resource),
            row.path.clone(),
            value_cell(row.desired.as_ref()),
            since_cell(row.since.as_ref()),
            value_cell(row.live.as_ref()),
            event.map_or_else(|| String::from("-"), actor_cell),
            row.attribution.grade.to_string(),
        ];
        if wide {
            cells.extend([
                event
                    .and_then(|e| e.user_agent.clone())
                    .unwrap_or_else(|| String::from("-")),
                event
                    .map(|e| e.source_ips.join(","))
                    .filter(|ips| !ips.is_empty())
                    .unwrap_or_else(|| String::from("-")),
                row.attribution.reason.clone(),
            ]);
        }
        table.row(cells);
    }
    table.render()
}

/// The event a grade rests on: for `observed-*` and `manager-time-match` the latest cited
/// (the one that set the value); a window's candidates are not one actor.
fn deciding_event(attribution: &Attribution) -> Option<&AttributedEvent> {
    use statesight_core::wire::AttributionGrade as Grade;
    match attribution.grade {
        Grade::ObservedChange | Grade::ObservedSet | Grade::ManagerTimeMatch => {
            attribution.events.last()
        }
        Grade::WindowCandidate | Grade::NotAttributed => None,
    }
}

fn actor_cell(event: &AttributedEvent) -> String {
    let who = match &event.impersonated {
        Some(as_user) => format!("{as_user} (as {}, by {})", kind_of(event), event.username),
        None => format!("{} ({})", event.username, event.actor_kind),
    };
    let mut cell = format!(
        "{who} {} {}",
        event.verb,
        event.at.format("%Y-%m-%d %H:%M:%S")
    );
    if let Some(before) = &event.value_before {
        cell.push_str(&format!(" (was {})", cut(&before.to_string())));
    }
    cell
}

fn kind_of(event: &AttributedEvent) -> String {
    event
        .impersonated_kind
        .map_or_else(|| String::from("unknown"), |kind| kind.to_string())
}

fn since_cell(since: Option<&DesiredSince>) -> String {
    match since {
        Some(DesiredSince::Determined {
            commit,
            author_name,
            authored_at,
            ..
        }) => format!(
            "{} {author_name} {}",
            commit.chars().take(12).collect::<String>(),
            authored_at.format("%Y-%m-%d")
        ),
        Some(DesiredSince::NotDetermined { reason }) => format!("not determined: {reason}"),
        None => String::from("-"),
    }
}

fn value_cell(value: Option<&Value>) -> String {
    value.map_or_else(|| String::from("(absent)"), |v| cut(&v.to_string()))
}

fn cut(text: &str) -> String {
    if text.chars().count() > VALUE_CHARS {
        format!("{}…", text.chars().take(VALUE_CHARS).collect::<String>())
    } else {
        text.to_owned()
    }
}

fn resource_label(identity: &ResourceIdentity) -> String {
    crate::scripting::resource(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_covers_itself_and_what_lies_beneath() {
        let path = "spec.template.spec.containers[name=api].image";
        assert!(under(path, None));
        assert!(under(path, Some(path)));
        assert!(under(path, Some("spec.template")));
        assert!(under(path, Some("spec.template.spec.containers")));
        assert!(!under(path, Some("spec.temp")));
        assert!(!under(path, Some("spec.replicas")));
    }
}
