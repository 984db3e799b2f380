//! The web view's gateway contract (docs/web-view.md), end to end over loopback HTTP: the
//! real OpenID provider issues tokens, a small gateway served by the test holds a browser
//! "session" cookie and forwards the token of that session as `Authorization: Bearer` to
//! the server (`AUTH_REQUIRED=true`, the OIDC verifier), and the browser only ever talks to
//! the gateway. An access token for the API's audience shows the user's workspaces; an ID
//! token, an expired token or none is a 401 page with the RFC 6750 challenge; an identity
//! nobody provisioned is a 403 page; a workspace the user is not a member of is a 404.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::oidc::{TestProvider, settings};
use common::*;
use serde_json::json;
use sqlx::PgPool;
use statesight_server::auth::Authenticator;
use statesight_server::oidc::OidcVerifier;
use statesight_store::provisioning;
use uuid::Uuid;

const CHECKOUT_APP: Uuid = statesight_store::seed::CHECKOUT_APPLICATION_ID;
const INGRESS_APP: Uuid = statesight_store::seed::INGRESS_APPLICATION_ID;
const SESSION_COOKIE: &str = "gateway_session";

/// The server as deployed with `AUTH_REQUIRED=true`: the application's router with the
/// OIDC verifier of `provider`, listening on loopback. Returns its base URL.
async fn serve_statesight(pool: &PgPool, provider: &TestProvider) -> String {
    let verifier = Arc::new(
        OidcVerifier::discover(settings(provider))
            .await
            .expect("discovering the test provider"),
    );
    let app = statesight_server::app(state_with(pool, Authenticator::Oidc(verifier)));
    serve(app).await
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

/// A gateway in the style of an authenticating reverse proxy: it has signed its users in
/// (here: sessions the test opens with tokens from the real provider), and forwards every
/// request to the server with the session's token as `Authorization: Bearer`, replacing
/// whatever `Authorization` the browser sent. Without a session it forwards the request
/// without one (a real gateway would send the browser to sign in; forwarding lets the test
/// see the server's own answer).
#[derive(Clone)]
struct Gateway {
    upstream: String,
    sessions: Arc<Mutex<HashMap<String, String>>>,
    http: reqwest::Client,
}

impl Gateway {
    async fn start(upstream: String) -> (Gateway, String) {
        let gateway = Gateway {
            upstream,
            sessions: Arc::default(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("HTTP client"),
        };
        let router = axum::Router::new()
            .fallback(forward)
            .with_state(gateway.clone());
        let base = serve(router).await;
        (gateway, base)
    }

    /// Opens a session holding `token`; returns the session cookie's value.
    fn open_session(&self, token: &str) -> String {
        let id = Uuid::new_v4().simple().to_string();
        self.sessions
            .lock()
            .expect("sessions")
            .insert(id.clone(), token.to_owned());
        id
    }
}

fn session_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE).then(|| value.to_owned())
        })
}

async fn forward(State(gateway): State<Gateway>, request: Request) -> Response {
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    let token = session_of(request.headers())
        .and_then(|id| gateway.sessions.lock().expect("sessions").get(&id).cloned());
    let mut upstream = gateway.http.request(
        request.method().clone(),
        format!("{}{path}", gateway.upstream),
    );
    // The browser's own headers worth passing on; never its Authorization or cookies.
    for name in [header::ACCEPT, header::ACCEPT_LANGUAGE, header::USER_AGENT] {
        if let Some(value) = request.headers().get(&name) {
            upstream = upstream.header(name, value);
        }
    }
    if let Some(token) = token {
        upstream = upstream.bearer_auth(token);
    }
    let answer = match upstream.send().await {
        Ok(answer) => answer,
        Err(error) => return (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    };
    let status = answer.status();
    let mut headers = answer.headers().clone();
    for hop in [header::CONNECTION, header::TRANSFER_ENCODING] {
        headers.remove(hop);
    }
    let body = answer.bytes().await.unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// What the browser sees.
struct Seen {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

/// The browser: talks to the gateway only, with the session cookie when it has one, and
/// follows no redirects (the tests look at them).
async fn browse(gateway: &str, path: &str, session: Option<&str>) -> Seen {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client");
    let mut request = http
        .get(format!("{gateway}{path}"))
        .header(header::ACCEPT, "text/html");
    if let Some(session) = session {
        request = request.header(header::COOKIE, format!("{SESSION_COOKIE}={session}"));
    }
    let answer = request.send().await.expect("the gateway answers");
    Seen {
        status: answer.status(),
        headers: answer.headers().clone(),
        text: answer.text().await.expect("body"),
    }
}

fn assert_html(seen: &Seen, status: StatusCode, what: &str) {
    assert_eq!(seen.status, status, "{what}: {}", seen.text);
    assert_eq!(
        seen.headers[header::CONTENT_TYPE],
        "text/html; charset=utf-8",
        "{what}"
    );
    assert!(seen.text.starts_with("<!doctype html>"), "{what}");
    assert_eq!(seen.headers[header::X_FRAME_OPTIONS], "DENY", "{what}");
    assert_eq!(seen.headers[header::CACHE_CONTROL], "no-store", "{what}");
    assert!(
        seen.headers.contains_key(header::CONTENT_SECURITY_POLICY),
        "{what}"
    );
}

/// A 401 page whose challenge is `invalid_token`, whose message names `expect`, and that
/// repeats nothing of the token.
fn assert_refused_token(seen: &Seen, token: &str, expect: &str) {
    assert_html(seen, StatusCode::UNAUTHORIZED, expect);
    let challenge = seen.headers[header::WWW_AUTHENTICATE]
        .to_str()
        .expect("ASCII challenge");
    assert!(
        challenge.starts_with(
            "Bearer realm=\"statesight\", error=\"invalid_token\", error_description=\""
        ),
        "{challenge}"
    );
    assert!(
        challenge.contains(expect),
        "{expect:?} in the challenge {challenge}"
    );
    assert!(seen.text.contains("<h1>401 Unauthorized</h1>"));
    assert!(seen.text.contains(expect), "{expect:?} in {}", seen.text);
    assert!(
        seen.text.contains("docs/web-view.md"),
        "the page says where the gateway contract is"
    );
    for part in token.split('.').filter(|part| part.len() > 8) {
        assert!(!seen.text.contains(part), "the page repeats the token");
        assert!(!challenge.contains(part), "the challenge repeats the token");
    }
}

async fn provision(pool: &PgPool, issuer: &str, subject: &str, user: Uuid) {
    provisioning::add_identity(pool, issuer, subject, &user.to_string())
        .await
        .expect("provisioning an identity");
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn an_access_token_through_the_gateway_shows_the_users_workspaces(pool: PgPool) {
    seeded_and_analysed(&pool).await;
    let provider = TestProvider::start().await;
    let server = serve_statesight(&pool, &provider).await;
    let (gateway, base) = Gateway::start(server).await;
    // Vera signs in at the provider; the gateway keeps her access token in her session.
    provision(&pool, &provider.issuer, "vera", VIEWER).await;
    let tokens = provider.device_login("vera").await;
    let vera = gateway.open_session(&tokens.access_token);

    // `/ui` sends her to her first workspace (by name: acme-payments).
    let home = browse(&base, "/ui", Some(&vera)).await;
    assert_eq!(home.status, StatusCode::SEE_OTHER, "{}", home.text);
    let first = home.headers[header::LOCATION].to_str().expect("location");
    assert_eq!(first, format!("/ui/w/{PAYMENTS}"));
    let overview = browse(&base, first, Some(&vera)).await;
    assert_html(&overview, StatusCode::OK, "overview");
    assert!(overview.text.contains("vera.viewer@acme.example"));
    assert!(overview.text.contains("(viewer)"));
    // Both of her workspaces are listed, and both are hers to read.
    assert!(overview.text.contains("<bdi>acme-payments</bdi>"));
    assert!(overview.text.contains("<bdi>acme-platform</bdi>"));
    let checkout_incident = incident_id(&pool, CHECKOUT_APP, "kubectl-edit").await;
    let ingress_incident = incident_id(&pool, INGRESS_APP, "removed_from_git").await;
    for path in [
        format!("/ui/w/{PAYMENTS}/applications"),
        format!("/ui/w/{PAYMENTS}/applications/{CHECKOUT_APP}"),
        format!("/ui/w/{PAYMENTS}/applications/{CHECKOUT_APP}/analyses"),
        format!("/ui/w/{PAYMENTS}/incidents"),
        format!("/ui/w/{PAYMENTS}/incidents/{checkout_incident}"),
        format!("/ui/w/{PLATFORM}"),
        format!("/ui/w/{PLATFORM}/applications/{INGRESS_APP}/rules"),
        format!("/ui/w/{PLATFORM}/incidents/{ingress_incident}"),
    ] {
        let seen = browse(&base, &path, Some(&vera)).await;
        assert_html(&seen, StatusCode::OK, &path);
        assert!(seen.text.contains("vera.viewer@acme.example"), "{path}");
    }
    let platform = browse(&base, &format!("/ui/w/{PLATFORM}"), Some(&vera)).await;
    assert!(platform.text.contains("(editor)"));
    // The stylesheet comes through the same way.
    let css = browse(&base, "/ui/static/ui.css", Some(&vera)).await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.headers[header::CONTENT_TYPE], "text/css; charset=utf-8");

    // A user whose only workspace is acme-platform lands there.
    let pat = provisioning::add_user(&pool, "pat@acme.example", "Pat Platform")
        .await
        .expect("user");
    provisioning::set_membership(
        &pool,
        &PLATFORM.to_string(),
        "pat@acme.example",
        statesight_core::wire::Role::Viewer,
    )
    .await
    .expect("membership");
    provision(&pool, &provider.issuer, "pat", pat.id).await;
    let pat_session = gateway.open_session(&provider.device_login("pat").await.access_token);
    let home = browse(&base, "/ui/", Some(&pat_session)).await;
    assert_eq!(home.status, StatusCode::SEE_OTHER, "{}", home.text);
    assert_eq!(
        home.headers[header::LOCATION],
        format!("/ui/w/{PLATFORM}").as_str()
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn anything_but_a_current_access_token_is_a_401_page_with_a_challenge(pool: PgPool) {
    seeded(&pool).await;
    let provider = TestProvider::start().await;
    let server = serve_statesight(&pool, &provider).await;
    let (gateway, base) = Gateway::start(server).await;
    provision(&pool, &provider.issuer, "vera", VIEWER).await;
    let tokens = provider.device_login("vera").await;
    let overview = format!("/ui/w/{PAYMENTS}");

    // The same sign-in, with the gateway misconfigured to forward the ID token: refused.
    let id_token = tokens
        .id_token
        .clone()
        .expect("the sign-in returns an ID token");
    let with_id_token = gateway.open_session(&id_token);
    for path in ["/ui", overview.as_str()] {
        let seen = browse(&base, path, Some(&with_id_token)).await;
        assert_refused_token(&seen, &id_token, "ID token");
    }

    // An access token that has expired (signed by the provider, otherwise valid).
    let now = chrono::Utc::now().timestamp();
    let mut claims = provider.claims("vera");
    claims["iat"] = json!(now - 900);
    claims["exp"] = json!(now - 600);
    let expired = provider.sign(json!({ "typ": "at+jwt" }), claims).await;
    let with_expired = gateway.open_session(&expired);
    let seen = browse(&base, &overview, Some(&with_expired)).await;
    assert_refused_token(&seen, &expired, "expired");

    // An access token for another audience (a gateway asking the provider for the wrong
    // resource).
    let mut claims = provider.claims("vera");
    claims["aud"] = json!("https://other.example/api");
    let misdirected = provider.sign(json!({ "typ": "at+jwt" }), claims).await;
    let with_misdirected = gateway.open_session(&misdirected);
    let seen = browse(&base, &overview, Some(&with_misdirected)).await;
    assert_refused_token(&seen, &misdirected, common::oidc::AUDIENCE);

    // No session, so no Authorization: a bare challenge (RFC 6750: no error code).
    for path in ["/ui", overview.as_str()] {
        let seen = browse(&base, path, None).await;
        assert_html(&seen, StatusCode::UNAUTHORIZED, "no token");
        assert_eq!(
            seen.headers[header::WWW_AUTHENTICATE],
            "Bearer realm=\"statesight\""
        );
        assert!(seen.text.contains("<h1>401 Unauthorized</h1>"));
        assert!(seen.text.contains("docs/web-view.md"));
    }

    // The control: the access token of that same sign-in is accepted.
    let with_access = gateway.open_session(&tokens.access_token);
    let seen = browse(&base, &overview, Some(&with_access)).await;
    assert_html(&seen, StatusCode::OK, "access token");
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn unprovisioned_users_get_403_and_non_members_404(pool: PgPool) {
    seeded(&pool).await;
    let provider = TestProvider::start().await;
    let server = serve_statesight(&pool, &provider).await;
    let (gateway, base) = Gateway::start(server).await;

    // Mallory signs in at the provider, but nobody mapped her identity to a user.
    let mallory = gateway.open_session(&provider.device_login("mallory").await.access_token);
    for path in ["/ui".to_owned(), format!("/ui/w/{PAYMENTS}")] {
        let seen = browse(&base, &path, Some(&mallory)).await;
        assert_html(&seen, StatusCode::FORBIDDEN, &path);
        assert!(seen.text.contains("<h1>403 Forbidden</h1>"));
        // The message says how to provision her (askama writes `"` as `&#34;`).
        assert!(seen.text.contains("&#34;mallory&#34;"), "{}", seen.text);
        assert!(seen.text.contains("statesight-server admin identity add"));
        assert!(!seen.headers.contains_key(header::WWW_AUTHENTICATE));
    }

    // Ed is a member of acme-payments only: acme-platform's pages are not found for him,
    // the same as an address that exists nowhere.
    provision(&pool, &provider.issuer, "ed", EDITOR).await;
    let ed = gateway.open_session(&provider.device_login("ed").await.access_token);
    let own = browse(&base, &format!("/ui/w/{PAYMENTS}"), Some(&ed)).await;
    assert_html(&own, StatusCode::OK, "own workspace");
    assert!(!own.text.contains("acme-platform"));
    for path in [
        format!("/ui/w/{PLATFORM}"),
        format!("/ui/w/{PLATFORM}/applications"),
        format!("/ui/w/{PLATFORM}/incidents"),
        format!("/ui/w/{PLATFORM}/applications/{INGRESS_APP}"),
        format!("/ui/w/{PAYMENTS}/applications/{INGRESS_APP}"),
        format!("/ui/w/{}", Uuid::new_v4()),
    ] {
        let seen = browse(&base, &path, Some(&ed)).await;
        assert_html(&seen, StatusCode::NOT_FOUND, &path);
        assert!(seen.text.contains("<h1>404 Not Found</h1>"), "{path}");
        assert!(!seen.text.contains("ingress-nginx"), "{path}");
    }
    let home = browse(&base, "/ui", Some(&ed)).await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(
        home.headers[header::LOCATION],
        format!("/ui/w/{PAYMENTS}").as_str()
    );

    // Nora is provisioned but belongs to no workspace.
    provision(&pool, &provider.issuer, "nora", OUTSIDER).await;
    let nora = gateway.open_session(&provider.device_login("nora").await.access_token);
    let seen = browse(&base, "/ui", Some(&nora)).await;
    assert_html(&seen, StatusCode::FORBIDDEN, "no workspace");
    assert!(seen.text.contains("not a member of any workspace"));
    let seen = browse(&base, &format!("/ui/w/{PAYMENTS}"), Some(&nora)).await;
    assert_html(&seen, StatusCode::NOT_FOUND, "not a member");
}
