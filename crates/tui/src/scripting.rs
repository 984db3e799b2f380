//! `api` and `get`: the console's data for scripts, with documented exit codes (see
//! `crate::exit`). JSON goes to stdout as the server sent it (pretty, with terminal-unsafe
//! characters written as `\u` escapes); tables have a stable order and aligned columns with
//! every cell neutralized; errors go to stderr.

use std::collections::HashSet;
use std::io::{Read as _, Write as _};
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;
use statesight_core::wire::{Application, Finding, Incident, ResourceIdentity};
use uuid::Uuid;

use crate::cli::{ApiArgs, GetArgs, GetWhat, OutputFormat};
use crate::client::{ClientError, RawReply};
use crate::config::{Context, resolve_workspace};
use crate::exit::{self, UsageError};
use crate::output::{Table, safe_json};

/// Writes to stdout; a reader that went away (`| head`) is not an error.
pub(crate) fn print_out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| {
        if text.ends_with('\n') {
            Ok(())
        } else {
            out.write_all(b"\n")
        }
    });
    let _ = out.flush();
}

pub(crate) fn print_err(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}", text.trim_end_matches('\n'));
}

/// A route as the user typed it: `/api/v1/…` as is, `api/v1/…` with a slash, anything else
/// relative to `/api/v1/` (`me`, `incidents?status=open`).
fn route(path: &str) -> anyhow::Result<String> {
    let path = path.trim();
    if path.is_empty() {
        return Err(UsageError(String::from("give a route, e.g. /api/v1/me")).into());
    }
    if path.contains("://") {
        return Err(UsageError(format!(
            "{path:?}: give a route on the server (/api/v1/…), not a URL; choose the server with --server"
        ))
        .into());
    }
    Ok(if path.starts_with('/') {
        path.to_owned()
    } else if path.starts_with("api/") {
        format!("/{path}")
    } else {
        format!("/api/v1/{path}")
    })
}

/// `path` with its `cursor` query parameter set to `cursor` (added or replaced).
pub fn with_cursor(path: &str, cursor: &str) -> anyhow::Result<String> {
    let base = Url::parse("http://statesight.invalid/")?;
    let mut url = base
        .join(path)
        .map_err(|error| UsageError(format!("{path:?} is not a usable route: {error}")))?;
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(name, _)| name != "cursor")
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("cursor", cursor);
    Ok(format!(
        "{}?{}",
        url.path(),
        url.query().unwrap_or_default()
    ))
}

fn method(args: &ApiArgs) -> anyhow::Result<Method> {
    let text = match &args.method {
        Some(method) => method.trim().to_ascii_uppercase(),
        None if args.data.is_some() => String::from("POST"),
        None => String::from("GET"),
    };
    Method::from_bytes(text.as_bytes())
        .map_err(|_| UsageError(format!("{text:?} is not an HTTP method")).into())
}

/// `--data`: JSON text, `@file`, or `@-` (standard input).
fn body(data: &str) -> anyhow::Result<Value> {
    let (text, origin) = if data == "@-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|error| UsageError(format!("reading standard input: {error}")))?;
        (text, String::from("standard input"))
    } else if let Some(path) = data.strip_prefix('@') {
        let text = std::fs::read_to_string(path)
            .map_err(|error| UsageError(format!("reading {path}: {error}")))?;
        (text, path.to_owned())
    } else {
        (data.to_owned(), String::from("--data"))
    };
    serde_json::from_str(&text).map_err(|error| {
        UsageError(format!(
            "{origin} is not JSON: {error} (give JSON, @file or @- for standard input)"
        ))
        .into()
    })
}

/// The workspace for `api`: the one asked for (which must exist), else the remembered or
/// first one if that can be found out; `None` lets the route decide (routes addressed by an
/// id need none, and public routes work signed out).
async fn api_workspace(context: &Context) -> anyhow::Result<Option<Uuid>> {
    if context.workspace.is_some() {
        return Ok(Some(resolve_workspace(context, None).await?.id));
    }
    Ok(resolve_workspace(context, None).await.ok().map(|w| w.id))
}

/// The exit code for an HTTP error answer, after printing its envelope to stderr.
fn http_failure(raw: &RawReply) -> ExitCode {
    print_err(&safe_json(&raw.body));
    exit::exit(if raw.status == 401 {
        exit::SIGN_IN_REQUIRED
    } else {
        exit::HTTP_ERROR
    })
}

pub async fn api(context: &Context, args: &ApiArgs) -> anyhow::Result<ExitCode> {
    let method = method(args)?;
    let path = route(&args.path)?;
    let body = args.data.as_deref().map(body).transpose()?;
    if args.paginate && method != Method::GET {
        return Err(UsageError(String::from("--paginate follows GET lists only")).into());
    }
    let workspace = api_workspace(context).await?;
    if !args.paginate {
        let raw = context
            .client
            .send_raw(method, &path, body.as_ref(), workspace)
            .await?;
        if !(200..300).contains(&raw.status) {
            return Ok(http_failure(&raw));
        }
        if !raw.body.is_null() {
            print_out(&safe_json(&raw.body));
        }
        return Ok(exit::exit(exit::OK));
    }
    let mut items = Vec::new();
    let mut page = path.clone();
    let mut seen = HashSet::new();
    loop {
        let raw = context
            .client
            .send_raw(Method::GET, &page, None, workspace)
            .await?;
        if !(200..300).contains(&raw.status) {
            return Ok(http_failure(&raw));
        }
        let Value::Array(data) = &raw.body["data"] else {
            return Err(UsageError(format!(
                "--paginate: {path} does not answer a list (its data is not an array)"
            ))
            .into());
        };
        items.extend(data.iter().cloned());
        match raw.body["meta"]["next_cursor"].as_str() {
            None => break,
            Some(cursor) => {
                if !seen.insert(cursor.to_owned()) {
                    return Err(ClientError::Protocol(format!(
                        "{path} returned the same next_cursor twice; stopping"
                    ))
                    .into());
                }
                page = with_cursor(&path, cursor)?;
            }
        }
    }
    print_out(&safe_json(&Value::Array(items)));
    Ok(exit::exit(exit::OK))
}

/// Every page of a list route, decoded.
pub(crate) async fn list_all<T: DeserializeOwned>(
    context: &Context,
    path: &str,
    workspace: Uuid,
) -> anyhow::Result<Vec<T>> {
    let mut items = Vec::new();
    let mut page = path.to_owned();
    let mut seen = HashSet::new();
    loop {
        let reply = context.client.get::<Vec<T>>(&page, Some(workspace)).await?;
        items.extend(reply.data);
        match reply.next_cursor {
            None => return Ok(items),
            Some(cursor) => {
                if !seen.insert(cursor.clone()) {
                    return Err(ClientError::Protocol(format!(
                        "{path} returned the same next_cursor twice"
                    ))
                    .into());
                }
                page = with_cursor(path, &cursor)?;
            }
        }
    }
}

fn time(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

pub(crate) fn resource(identity: &ResourceIdentity) -> String {
    let mut text = String::new();
    if !identity.group.is_empty() {
        text.push_str(&identity.group);
        text.push('/');
    }
    text.push_str(&identity.kind);
    text.push('/');
    if !identity.namespace.is_empty() {
        text.push_str(&identity.namespace);
        text.push('/');
    }
    text.push_str(&identity.name);
    text
}

fn json_out<T: serde::Serialize>(value: &T) -> anyhow::Result<ExitCode> {
    print_out(&safe_json(&serde_json::to_value(value)?));
    Ok(exit::exit(exit::OK))
}

pub async fn get(context: &Context, args: &GetArgs) -> anyhow::Result<ExitCode> {
    match &args.what {
        GetWhat::Applications => applications(context, args.output).await,
        GetWhat::Incidents {
            application,
            status,
        } => incidents(context, args.output, application.as_deref(), status).await,
        GetWhat::Incident { id } => incident(context, args.output, id).await,
    }
}

async fn applications(context: &Context, output: OutputFormat) -> anyhow::Result<ExitCode> {
    let workspace = resolve_workspace(context, None).await?;
    let mut applications: Vec<Application> =
        list_all(context, "/api/v1/applications?limit=500", workspace.id).await?;
    applications.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    if output == OutputFormat::Json {
        return json_out(&applications);
    }
    let wide = output == OutputFormat::Wide;
    let mut headers = vec![
        "NAME",
        "CLUSTER",
        "NAMESPACE",
        "OPEN",
        "HIGHEST",
        "LAST RUN",
    ];
    if wide {
        headers.extend(["SOURCE", "ID", "UPDATED", "DESCRIPTION"]);
    }
    let mut table = Table::new(headers);
    for application in &applications {
        let last_run = application
            .latest_run
            .as_ref()
            .map(|run| {
                format!(
                    "{} {}",
                    run.status,
                    time(run.finished_at.as_ref().unwrap_or(&run.queued_at))
                )
            })
            .unwrap_or_else(|| String::from("-"));
        let mut row = vec![
            application.name.clone(),
            application.cluster.name.clone(),
            application.default_namespace.clone(),
            application.open_incident_count.to_string(),
            application
                .highest_open_severity
                .map(|severity| severity.to_string())
                .unwrap_or_else(|| String::from("-")),
            last_run,
        ];
        if wide {
            row.extend([
                application.source.name.clone(),
                application.id.to_string(),
                time(&application.updated_at),
                application.description.clone(),
            ]);
        }
        table.row(row);
    }
    print_out(&table.render());
    Ok(exit::exit(exit::OK))
}

async fn incidents(
    context: &Context,
    output: OutputFormat,
    application: Option<&str>,
    status: &str,
) -> anyhow::Result<ExitCode> {
    let status = match status.trim() {
        "open" | "resolved" => Some(status.trim()),
        "all" => None,
        other => {
            return Err(UsageError(format!(
                "--status must be open, resolved or all, not {other:?}"
            ))
            .into());
        }
    };
    let workspace = resolve_workspace(context, None).await?;
    let mut path = String::from("/api/v1/incidents?limit=500");
    if let Some(status) = status {
        path.push_str("&status=");
        path.push_str(status);
    }
    if let Some(wanted) = application {
        let id = match Uuid::parse_str(wanted.trim()) {
            Ok(id) => id,
            Err(_) => {
                let all: Vec<Application> =
                    list_all(context, "/api/v1/applications?limit=500", workspace.id).await?;
                match all.iter().find(|a| a.name == wanted.trim()) {
                    Some(found) => found.id,
                    None => {
                        let mut names: Vec<&str> = all.iter().map(|a| a.name.as_str()).collect();
                        names.sort_unstable();
                        return Err(UsageError(format!(
                            "no application {wanted:?} in workspace {}; its applications: {}",
                            workspace.name,
                            names.join(", ")
                        ))
                        .into());
                    }
                }
            }
        };
        path.push_str(&format!("&application_id={id}"));
    }
    let mut incidents: Vec<Incident> = list_all(context, &path, workspace.id).await?;
    incidents.sort_by(|a, b| b.last_seen_at.cmp(&a.last_seen_at).then(a.id.cmp(&b.id)));
    if output == OutputFormat::Json {
        return json_out(&incidents);
    }
    let wide = output == OutputFormat::Wide;
    let mut headers = vec![
        "ID",
        "SEVERITY",
        "RECOMMENDATION",
        "APPLICATION",
        "RESOURCE",
        "CAUSE",
        "LAST SEEN",
    ];
    if wide {
        headers.extend(["STATUS", "FINDINGS", "SEEN", "FIRST SEEN"]);
    }
    headers.push("TITLE");
    let mut table = Table::new(headers);
    for incident in &incidents {
        let mut row = vec![
            incident.id.to_string(),
            incident.severity.to_string(),
            incident.recommendation.to_string(),
            incident.application.name.clone(),
            resource(&incident.resource),
            incident.cause.label().to_owned(),
            time(&incident.last_seen_at),
        ];
        if wide {
            row.extend([
                incident.status.to_string(),
                incident.finding_count.to_string(),
                incident.occurrence_count.to_string(),
                time(&incident.first_seen_at),
            ]);
        }
        row.push(incident.title.clone());
        table.row(row);
    }
    print_out(&table.render());
    Ok(exit::exit(exit::OK))
}

async fn incident(context: &Context, output: OutputFormat, id: &str) -> anyhow::Result<ExitCode> {
    let id = Uuid::parse_str(id.trim()).map_err(|_| {
        UsageError(format!(
            "{id:?} is not an incident id (a UUID, as `get incidents` shows)"
        ))
    })?;
    let incident = context
        .client
        .get::<Incident>(&format!("/api/v1/incidents/{id}"), None)
        .await?
        .data;
    if output == OutputFormat::Json {
        return json_out(&incident);
    }
    let findings = context
        .client
        .get::<Vec<Finding>>(&format!("/api/v1/incidents/{id}/findings?limit=500"), None)
        .await?;
    let mut details = Table::new(vec!["FIELD", "VALUE"]);
    let resolved = incident
        .resolved_at
        .as_ref()
        .map(time)
        .unwrap_or_else(|| String::from("-"));
    for (name, value) in [
        ("Title", incident.title.clone()),
        ("Id", incident.id.to_string()),
        ("Application", incident.application.name.clone()),
        ("Resource", resource(&incident.resource)),
        ("Cause", incident.cause.label().to_owned()),
        ("Severity", incident.severity.to_string()),
        ("Recommendation", incident.recommendation.to_string()),
        ("Rationale", incident.rationale.clone()),
        ("Status", incident.status.to_string()),
        ("First seen", time(&incident.first_seen_at)),
        ("Last seen", time(&incident.last_seen_at)),
        ("Resolved", resolved),
        ("Findings", incident.finding_count.to_string()),
        (
            "Seen",
            format!(
                "{} times, recurred {} times",
                incident.occurrence_count, incident.recurrence_count
            ),
        ),
    ] {
        details.row(vec![name.to_owned(), value]);
    }
    let mut text = details.render();
    let wide = output == OutputFormat::Wide;
    let mut headers = vec!["PATH", "CHANGE", "OWNERS"];
    if wide {
        headers.extend(["DESIRED", "LIVE", "OBSERVED"]);
    }
    let mut table = Table::new(headers);
    for finding in &findings.data {
        let owners: Vec<String> = finding
            .owners
            .iter()
            .map(|owner| owner.manager.clone())
            .collect();
        let mut row = vec![
            finding.path.clone(),
            finding.change.to_string(),
            if owners.is_empty() {
                String::from("-")
            } else {
                owners.join(",")
            },
        ];
        if wide {
            let value = |v: &Option<Value>| match v {
                None => String::from("-"),
                Some(v) => v.to_string(),
            };
            row.extend([
                value(&finding.desired),
                value(&finding.live),
                time(&finding.observed_at),
            ]);
        }
        table.row(row);
    }
    text.push('\n');
    text.push_str(&table.render());
    if findings.next_cursor.is_some() {
        text.push_str(
            "(more findings: statesight-tui api --paginate /api/v1/incidents/ID/findings)\n",
        );
    }
    print_out(&text);
    Ok(exit::exit(exit::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_cursors() {
        assert_eq!(route("me").expect("route"), "/api/v1/me");
        assert_eq!(route("api/v1/me").expect("route"), "/api/v1/me");
        assert_eq!(route("/healthz").expect("route"), "/healthz");
        assert!(route("https://x/api").is_err());
        assert_eq!(
            with_cursor("/api/v1/applications?limit=1", "abc+/=").expect("cursor"),
            "/api/v1/applications?limit=1&cursor=abc%2B%2F%3D"
        );
        assert_eq!(
            with_cursor("/api/v1/incidents?cursor=old&status=open", "new").expect("cursor"),
            "/api/v1/incidents?status=open&cursor=new"
        );
    }
}
