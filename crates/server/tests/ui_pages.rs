//! The web view at `/ui` over HTTP, in process, against a real, seeded and analysed
//! PostgreSQL database per test: every page is HTML with the security headers, errors are
//! pages with the API's status, workspaces stay apart, the "Next page" links walk each list
//! exactly once, and the hostile example's strings arrive escaped and made visible.

mod common;

use std::collections::HashSet;

use axum::http::{StatusCode, header};
use common::*;
use sqlx::PgPool;
use uuid::Uuid;

const CHECKOUT_APP: Uuid = statesight_store::seed::CHECKOUT_APPLICATION_ID;
const INGRESS_APP: Uuid = statesight_store::seed::INGRESS_APPLICATION_ID;
const HOSTILE_APP: Uuid = statesight_store::seed::HOSTILE_APPLICATION_ID;

const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The headers every `/ui` answer carries, exactly.
fn assert_security_headers(reply: &Reply, uri: &str) {
    let header = |name: header::HeaderName| {
        let values: Vec<_> = reply.headers.get_all(&name).iter().collect();
        assert_eq!(values.len(), 1, "{uri}: one {name} header, got {values:?}");
        values[0].to_str().expect("ASCII header").to_owned()
    };
    assert_eq!(
        header(header::CONTENT_SECURITY_POLICY),
        CONTENT_SECURITY_POLICY,
        "{uri}"
    );
    assert_eq!(header(header::X_CONTENT_TYPE_OPTIONS), "nosniff", "{uri}");
    assert_eq!(header(header::X_FRAME_OPTIONS), "DENY", "{uri}");
    assert_eq!(header(header::REFERRER_POLICY), "no-referrer", "{uri}");
}

/// Nothing in a page can run, restyle or reorder: no script, no inline style, no raw
/// markup from the data, no raw escape or bidi control.
fn assert_inert(reply: &Reply, uri: &str) {
    let text = &reply.text;
    for forbidden in [
        "<script", "<SCRIPT", "style=", "<img", "<IMG", "<iframe", "<svg",
    ] {
        assert!(
            !text.contains(forbidden),
            "{uri}: the page contains {forbidden:?}"
        );
    }
    for c in text.chars() {
        assert!(
            !matches!(c, '\u{1b}' | '\u{7}' | '\u{9b}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200b}' | '\u{feff}'),
            "{uri}: the page contains U+{:04X} as itself",
            u32::from(c)
        );
    }
}

/// A page: the status, HTML, the security headers, never stored by a cache, inert.
fn assert_page(reply: &Reply, status: StatusCode, uri: &str) {
    assert_eq!(reply.status, status, "{uri}: {}", reply.text);
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "text/html; charset=utf-8",
        "{uri}"
    );
    assert_security_headers(reply, uri);
    assert_eq!(reply.headers[header::CACHE_CONTROL], "no-store", "{uri}");
    assert!(reply.text.starts_with("<!doctype html>"), "{uri}");
    assert_inert(reply, uri);
}

/// An error page with the API's status, its heading and a request id.
fn assert_error_page(reply: &Reply, status: StatusCode, uri: &str) {
    assert_page(reply, status, uri);
    let heading = format!(
        "<h1>{} {}</h1>",
        status.as_u16(),
        status.canonical_reason().expect("reason")
    );
    assert!(reply.text.contains(&heading), "{uri}: {}", reply.text);
    let request_id = reply.headers["x-request-id"].to_str().expect("request id");
    assert!(
        reply.text.contains(request_id),
        "{uri}: the page names its request id"
    );
}

async fn page(router: &axum::Router, uri: &str) -> Reply {
    get(router, uri, None).await
}

async fn ids(pool: &PgPool, sql: &'static str, bind: Uuid) -> Vec<Uuid> {
    sqlx::query_scalar(sql)
        .bind(bind)
        .fetch_all(pool)
        .await
        .expect("query")
}

/// Every page of one application.
fn application_pages(workspace: Uuid, application: Uuid) -> Vec<String> {
    let base = format!("/ui/w/{workspace}/applications/{application}");
    vec![
        base.clone(),
        format!("{base}?status=resolved"),
        format!("{base}/suppressed"),
        format!("{base}/rules"),
        format!("{base}/analyses"),
    ]
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn every_page_is_html_with_the_security_headers(pool: PgPool) {
    seeded_and_analysed(&pool).await;
    // The demo operator is an admin of both workspaces: every page of the demo.
    let router = as_user(&pool, DEMO);
    let mut uris = Vec::new();
    for workspace in [PAYMENTS, PLATFORM] {
        uris.push(format!("/ui/w/{workspace}"));
        uris.push(format!("/ui/w/{workspace}/applications"));
        uris.push(format!("/ui/w/{workspace}/incidents"));
        uris.push(format!("/ui/w/{workspace}/incidents?status=resolved"));
        for application in ids(
            &pool,
            "SELECT id FROM applications WHERE workspace_id = $1",
            workspace,
        )
        .await
        {
            uris.extend(application_pages(workspace, application));
        }
        for incident in ids(
            &pool,
            "SELECT id FROM incidents WHERE workspace_id = $1",
            workspace,
        )
        .await
        {
            uris.push(format!("/ui/w/{workspace}/incidents/{incident}"));
        }
    }
    assert!(uris.len() > 40, "the demo has pages: {}", uris.len());
    for uri in &uris {
        let reply = page(&router, uri).await;
        assert_page(&reply, StatusCode::OK, uri);
        assert!(
            reply.text.contains("demo@statesight.local"),
            "{uri}: who is signed in"
        );
    }
    // The application page shows the application; the incident list links its incidents.
    let checkout = page(
        &router,
        &format!("/ui/w/{PAYMENTS}/applications/{CHECKOUT_APP}"),
    )
    .await;
    assert!(checkout.text.contains("<bdi>checkout-api</bdi>"));
    let incident = incident_id(&pool, CHECKOUT_APP, "kubectl-edit").await;
    let incidents = page(&router, &format!("/ui/w/{PAYMENTS}/incidents")).await;
    assert!(
        incidents
            .text
            .contains(&format!("href=\"/ui/w/{PAYMENTS}/incidents/{incident}\"")),
        "{}",
        incidents.text
    );

    // `/ui` and `/ui/` send the caller to their first workspace by name (acme-payments).
    for uri in ["/ui", "/ui/"] {
        let home = page(&router, uri).await;
        assert_eq!(home.status, StatusCode::SEE_OTHER, "{uri}");
        assert_eq!(
            home.headers[header::LOCATION],
            format!("/ui/w/{PAYMENTS}").as_str()
        );
        assert_security_headers(&home, uri);
        assert_eq!(home.headers[header::CACHE_CONTROL], "no-store");
    }

    // The stylesheet: CSS, the same headers, cached (it carries no data).
    let css = page(&router, "/ui/static/ui.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    assert_security_headers(&css, "/ui/static/ui.css");
    let cache = css.headers[header::CACHE_CONTROL].to_str().expect("ASCII");
    assert!(cache.contains("max-age="), "{cache}");
    assert!(!cache.contains("no-store"), "{cache}");
    // Every page links it, and nothing else is loaded.
    assert!(
        checkout
            .text
            .contains("<link rel=\"stylesheet\" href=\"/ui/static/ui.css\">")
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn errors_are_pages_with_the_apis_status(pool: PgPool) {
    seeded(&pool).await;
    let router = as_user(&pool, VIEWER);
    // No such page.
    for uri in [
        "/ui/nope",
        "/ui/w",
        "/ui/static/other.css",
        "/ui/w/x/y/z/w/v",
    ] {
        let reply = page(&router, uri).await;
        assert_error_page(&reply, StatusCode::NOT_FOUND, uri);
        assert!(reply.text.contains("no such route"), "{uri}");
    }
    // Ids that are not UUIDs, including one that tries to be markup.
    for uri in [
        String::from("/ui/w/not-a-uuid"),
        String::from("/ui/w/%3Cscript%3Ealert(1)%3C%2Fscript%3E/applications"),
        format!("/ui/w/{PAYMENTS}/applications/123"),
        format!("/ui/w/{PAYMENTS}/incidents/%E2%80%AEevil"),
        format!("/ui/w/nope/applications/{CHECKOUT_APP}/rules"),
    ] {
        let reply = page(&router, &uri).await;
        assert_error_page(&reply, StatusCode::BAD_REQUEST, &uri);
        assert!(reply.text.contains("UUID"), "{uri}: {}", reply.text);
    }
    // Bad paging parameters: the API's messages.
    for uri in [
        format!("/ui/w/{PAYMENTS}/applications?limit=0"),
        format!("/ui/w/{PAYMENTS}/applications?limit=501"),
        format!("/ui/w/{PAYMENTS}/applications?cursor=forged"),
        format!("/ui/w/{PAYMENTS}/incidents?status=closed"),
    ] {
        let reply = page(&router, &uri).await;
        assert_error_page(&reply, StatusCode::BAD_REQUEST, &uri);
    }
    // Ids that exist nowhere.
    for uri in [
        format!("/ui/w/{}", Uuid::new_v4()),
        format!("/ui/w/{PAYMENTS}/applications/{}", Uuid::new_v4()),
        format!("/ui/w/{PAYMENTS}/incidents/{}", Uuid::new_v4()),
    ] {
        let reply = page(&router, &uri).await;
        assert_error_page(&reply, StatusCode::NOT_FOUND, &uri);
    }
    // The view only reads: other methods are refused, as a page too.
    for uri in [
        format!("/ui/w/{PAYMENTS}"),
        format!("/ui/w/{PAYMENTS}/applications/{CHECKOUT_APP}/rules"),
        String::from("/ui/nope"),
    ] {
        let request = axum::http::Request::builder()
            .method(axum::http::Method::POST)
            .uri(&uri)
            .body(axum::body::Body::from("x=1"))
            .expect("request");
        let reply = send(&router, request).await;
        assert_error_page(&reply, StatusCode::METHOD_NOT_ALLOWED, &uri);
    }
    // A user without any workspace is told so at `/ui`.
    let outsider = page(&as_user(&pool, OUTSIDER), "/ui").await;
    assert_error_page(&outsider, StatusCode::FORBIDDEN, "/ui");
    assert!(outsider.text.contains("not a member of any workspace"));
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn workspaces_stay_apart(pool: PgPool) {
    seeded_and_analysed(&pool).await;
    let checkout_incident = incident_id(&pool, CHECKOUT_APP, "kubectl-edit").await;
    let ingress_incident = incident_id(&pool, INGRESS_APP, "removed_from_git").await;

    // VIEWER belongs to both workspaces, but an application or incident is only found under
    // its own workspace's address.
    let viewer = as_user(&pool, VIEWER);
    let mut crossed = application_pages(PLATFORM, CHECKOUT_APP);
    crossed.extend(application_pages(PAYMENTS, INGRESS_APP));
    crossed.push(format!("/ui/w/{PLATFORM}/incidents/{checkout_incident}"));
    crossed.push(format!("/ui/w/{PAYMENTS}/incidents/{ingress_incident}"));
    for uri in &crossed {
        let reply = page(&viewer, uri).await;
        assert_error_page(&reply, StatusCode::NOT_FOUND, uri);
    }
    // The same addresses under the right workspace are there.
    for uri in [
        format!("/ui/w/{PAYMENTS}/applications/{CHECKOUT_APP}"),
        format!("/ui/w/{PLATFORM}/applications/{INGRESS_APP}"),
        format!("/ui/w/{PAYMENTS}/incidents/{checkout_incident}"),
        format!("/ui/w/{PLATFORM}/incidents/{ingress_incident}"),
    ] {
        assert_page(&page(&viewer, &uri).await, StatusCode::OK, &uri);
    }
    // VIEWER is a viewer of payments and an editor of platform: the frame says which, and
    // lists both workspaces.
    let overview = page(&viewer, &format!("/ui/w/{PLATFORM}")).await;
    assert!(overview.text.contains("(editor)"), "{}", overview.text);
    assert!(
        overview
            .text
            .contains(&format!("href=\"/ui/w/{PAYMENTS}\""))
    );

    // EDITOR belongs to payments only: every platform page is not found, exactly as an id
    // that exists nowhere (existence does not leak).
    let editor = as_user(&pool, EDITOR);
    let mut hidden = vec![
        format!("/ui/w/{PLATFORM}"),
        format!("/ui/w/{PLATFORM}/applications"),
        format!("/ui/w/{PLATFORM}/incidents"),
        format!("/ui/w/{PLATFORM}/incidents/{ingress_incident}"),
        format!("/ui/w/{PAYMENTS}/incidents/{ingress_incident}"),
    ];
    hidden.extend(application_pages(PLATFORM, INGRESS_APP));
    hidden.extend(application_pages(PAYMENTS, INGRESS_APP));
    hidden.extend(application_pages(PLATFORM, HOSTILE_APP));
    for uri in &hidden {
        let reply = page(&editor, uri).await;
        assert_error_page(&reply, StatusCode::NOT_FOUND, uri);
        assert!(!reply.text.contains("ingress-nginx"), "{uri}");
        assert!(!reply.text.contains("acme-platform"), "{uri}");
    }
    let unknown = page(
        &editor,
        &format!("/ui/w/{PLATFORM}/incidents/{}", Uuid::new_v4()),
    )
    .await;
    let known = page(
        &editor,
        &format!("/ui/w/{PLATFORM}/incidents/{ingress_incident}"),
    )
    .await;
    assert_eq!(
        message_of(&unknown.text),
        message_of(&known.text),
        "a hidden incident reads as one that does not exist"
    );
    // EDITOR's own pages do not list the other workspace.
    let own = page(&editor, &format!("/ui/w/{PAYMENTS}")).await;
    assert_page(&own, StatusCode::OK, "own overview");
    assert!(!own.text.contains(&PLATFORM.to_string()));
    assert!(!own.text.contains("acme-platform"));

    // OUTSIDER belongs to no workspace: nothing is found.
    let outsider = as_user(&pool, OUTSIDER);
    for uri in [
        format!("/ui/w/{PAYMENTS}"),
        format!("/ui/w/{PAYMENTS}/applications/{CHECKOUT_APP}"),
        format!("/ui/w/{PAYMENTS}/incidents/{checkout_incident}"),
    ] {
        assert_error_page(&page(&outsider, &uri).await, StatusCode::NOT_FOUND, &uri);
    }
}

/// The error page's message paragraph.
fn message_of(text: &str) -> String {
    let start = text.find("<p class=\"message\">").expect("message");
    let end = text[start..].find("</p>").expect("end of message");
    text[start..start + end].to_owned()
}

/// The `href` of the page's "Next …" link, made absolute against `path`.
fn next_href(text: &str, path: &str) -> Option<String> {
    let end = text.find("\" rel=\"next\"")?;
    let start = text[..end].rfind("href=\"")? + "href=\"".len();
    // askama escapes `&` in attribute values as `&#38;`.
    let href = text[start..end].replace("&#38;", "&");
    assert!(href.starts_with('?'), "a relative query: {href}");
    Some(format!("{path}{href}"))
}

/// The ids of `/ui/w/<workspace>/<kind>/<id>` links in the page's main content.
fn linked_ids(text: &str, workspace: Uuid, kind: &str) -> Vec<Uuid> {
    let main = &text[text.find("<main").expect("main")..];
    let prefix = format!("href=\"/ui/w/{workspace}/{kind}/");
    let mut found = Vec::new();
    let mut rest = main;
    while let Some(at) = rest.find(&prefix) {
        rest = &rest[at + prefix.len()..];
        let id = Uuid::parse_str(&rest[..36]).expect("a UUID in the link");
        // Tabs and crumbs link the same id again, followed by `/` or `?`.
        if rest[36..].starts_with('"') {
            found.push(id);
        }
    }
    found
}

/// Follows "Next page" from `first` to the end; returns the ids each page lists.
async fn walk(
    router: &axum::Router,
    first: &str,
    workspace: Uuid,
    kind: &str,
    per_page: usize,
) -> Vec<Vec<Uuid>> {
    let path = first.split('?').next().expect("path").to_owned();
    let mut pages = Vec::new();
    let mut uri = Some(first.to_owned());
    while let Some(current) = uri {
        assert!(pages.len() < 100, "the links never end");
        let reply = page(router, &current).await;
        assert_page(&reply, StatusCode::OK, &current);
        let listed = linked_ids(&reply.text, workspace, kind);
        assert!(
            !listed.is_empty() && listed.len() <= per_page,
            "{current}: {} rows for a page of {per_page}",
            listed.len()
        );
        pages.push(listed);
        uri = next_href(&reply.text, &path);
        if let Some(next) = &uri {
            assert!(next.contains(&format!("limit={per_page}")), "{next}");
        }
    }
    pages
}

fn assert_each_once(pages: &[Vec<Uuid>], expected: &[Uuid], what: &str) {
    let listed: Vec<Uuid> = pages.iter().flatten().copied().collect();
    let unique: HashSet<Uuid> = listed.iter().copied().collect();
    assert_eq!(
        unique.len(),
        listed.len(),
        "{what}: listed twice: {listed:?}"
    );
    assert_eq!(
        unique,
        expected.iter().copied().collect::<HashSet<_>>(),
        "{what}"
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn next_page_links_visit_every_row_once(pool: PgPool) {
    seeded_and_analysed(&pool).await;
    let router = as_user(&pool, DEMO);
    // Applications, one a page.
    let applications = ids(
        &pool,
        "SELECT id FROM applications WHERE workspace_id = $1",
        PAYMENTS,
    )
    .await;
    assert!(applications.len() >= 3);
    let pages = walk(
        &router,
        &format!("/ui/w/{PAYMENTS}/applications?limit=1"),
        PAYMENTS,
        "applications",
        1,
    )
    .await;
    assert_eq!(pages.len(), applications.len(), "one page each");
    assert_each_once(&pages, &applications, "applications");

    // Open incidents of the platform workspace, two a page; the status is kept.
    let open = ids(
        &pool,
        "SELECT id FROM incidents WHERE workspace_id = $1 AND status = 'open'",
        PLATFORM,
    )
    .await;
    assert!(open.len() > 2, "{}", open.len());
    let pages = walk(
        &router,
        &format!("/ui/w/{PLATFORM}/incidents?status=open&limit=2"),
        PLATFORM,
        "incidents",
        2,
    )
    .await;
    assert_eq!(pages.len(), open.len().div_ceil(2));
    assert_each_once(&pages, &open, "open incidents");

    // Resolved incidents of payments, one a page, from the resolved tab.
    let resolved = ids(
        &pool,
        "SELECT id FROM incidents WHERE workspace_id = $1 AND status = 'resolved'",
        PAYMENTS,
    )
    .await;
    if !resolved.is_empty() {
        let pages = walk(
            &router,
            &format!("/ui/w/{PAYMENTS}/incidents?status=resolved&limit=1"),
            PAYMENTS,
            "incidents",
            1,
        )
        .await;
        assert_each_once(&pages, &resolved, "resolved incidents");
    }

    // The hostile application's analyses tab and an incident's findings page too: a cursor
    // from a link works on the page that issued it.
    let findings = walk_findings(&router, &pool).await;
    assert!(findings > 1, "{findings} finding pages");
}

/// Walks the findings of the hostile application's largest incident one at a time; returns
/// how many pages there were (each with exactly one finding, none repeated).
async fn walk_findings(router: &axum::Router, pool: &PgPool) -> usize {
    let (incident, count): (Uuid, i32) = sqlx::query_as(
        "SELECT id, finding_count FROM incidents WHERE application_id = $1
          ORDER BY finding_count DESC LIMIT 1",
    )
    .bind(HOSTILE_APP)
    .fetch_one(pool)
    .await
    .expect("the hostile application's incidents");
    let path = format!("/ui/w/{PLATFORM}/incidents/{incident}");
    let mut anchors = HashSet::new();
    let mut uri = Some(format!("{path}?limit=1"));
    let mut pages = 0;
    while let Some(current) = uri {
        let reply = page(router, &current).await;
        assert_page(&reply, StatusCode::OK, &current);
        let on_page: Vec<&str> = reply
            .text
            .match_indices("<article class=\"finding\" id=\"")
            .map(|(at, m)| &reply.text[at + m.len()..at + m.len() + 34])
            .collect();
        assert_eq!(on_page.len(), 1, "{current}");
        assert!(anchors.insert(on_page[0].to_owned()), "{current}: repeated");
        pages += 1;
        uri = next_href(&reply.text, &path);
    }
    assert_eq!(pages, usize::try_from(count).expect("count"));
    pages
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn hostile_strings_are_escaped_and_made_visible(pool: PgPool) {
    seeded_and_analysed(&pool).await;
    // VIEWER is an editor of acme-platform, where the hostile application lives.
    let router = as_user(&pool, VIEWER);
    let mut uris = vec![
        format!("/ui/w/{PLATFORM}"),
        format!("/ui/w/{PLATFORM}/applications"),
        format!("/ui/w/{PLATFORM}/incidents"),
    ];
    uris.extend(application_pages(PLATFORM, HOSTILE_APP));
    let incidents = ids(
        &pool,
        "SELECT id FROM incidents WHERE application_id = $1",
        HOSTILE_APP,
    )
    .await;
    assert_eq!(incidents.len(), 7, "the example's seven incidents");
    for incident in &incidents {
        uris.push(format!("/ui/w/{PLATFORM}/incidents/{incident}"));
    }
    let mut everything = String::new();
    for uri in &uris {
        let reply = page(&router, uri).await;
        assert_page(&reply, StatusCode::OK, uri);
        everything.push_str(&reply.text);
    }
    // HTML from the data arrives as text (askama writes `<` as `&#60;`, `>` as `&#62;`).
    for escaped in [
        "&#60;img src=x onerror=alert(1)&#62;",
        "&#60;img src=x onerror=alert(document.cookie)&#62;",
        "&#60;/script&#62;&#60;script&#62;alert(1)&#60;/script&#62;",
        "&#60;b&#62;hello&#60;/b&#62;",
    ] {
        assert!(everything.contains(escaped), "missing {escaped}");
    }
    // Escapes, bidi controls and invisible characters arrive as `\u{…}` text.
    for visible in [
        "\\u{1b}]52;c;ZWNobyBwd25lZA==\\u{7}",
        "\\u{1b}[2J",
        "invoice-2026-11-\\u{202e}fdp.exe",
        "ops\\u{200b}-\\u{202e}tob-ecnanetniam\\u{202c}",
        "\\u{9b}",
        "pay\\u{200b}ment",
        "\\u{2066}admin\\u{2069}",
        "\\u{d}",
    ] {
        assert!(everything.contains(visible), "missing {visible}");
    }
    // Every value that came from the data sits inside `<bdi>`: the incident titles.
    assert!(
        everything.contains("<bdi>Deployment sandbox/echo: 1 field changed by ops\\u{200b}-\\u{202e}tob-ecnanetniam\\u{202c}</bdi>"),
        "an incident title is isolated"
    );
}
