//! Inputs that reach Git, files and the worker, as a hostile client sends them: each refused
//! with a 422 that names the field and says what is accepted.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use sqlx::PgPool;

async fn create_source(router: &axum::Router, repo_url: &str) -> Reply {
    let body =
        serde_json::json!({ "name": "probe", "repo_url": repo_url, "ref": "main", "path": "." });
    send_json(
        router,
        Method::POST,
        "/api/v1/sources",
        Some(PAYMENTS),
        &body.to_string(),
    )
    .await
}

async fn create_cluster(router: &axum::Router, body: serde_json::Value) -> Reply {
    send_json(
        router,
        Method::POST,
        "/api/v1/clusters",
        Some(PAYMENTS),
        &body.to_string(),
    )
    .await
}

fn assert_refused(reply: &Reply, field: &str) {
    assert_error(reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(
        reply.text.contains(field),
        "the message names {field}: {}",
        reply.text
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn repo_url_ssh_option_injection_is_refused(pool: PgPool) {
    seeded(&pool).await;
    let router = as_user(&pool, ADMIN);
    for url in [
        "ssh://[-oProxyCommand=touch${IFS}/tmp/x]/r",
        "[-oProxyCommand=x]:repo",
        "host:--upload-pack=touch /tmp/x",
        "git@host:-u",
        "ssh://%2doProxyCommand=x/r",
        "file:/etc",
    ] {
        let reply = create_source(&router, url).await;
        assert_refused(&reply, "repo_url");
        assert!(reply.text.contains("accepted forms"), "{}", reply.text);
    }
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn repo_url_with_an_ipv6_host_is_accepted(pool: PgPool) {
    seeded(&pool).await;
    let reply = create_source(&as_user(&pool, ADMIN), "https://[2001:db8::1]/repo.git").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(
        reply.body["data"]["repo_url"],
        "https://[2001:db8::1]/repo.git"
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn repo_url_with_embedded_credentials_is_refused_and_never_echoed(pool: PgPool) {
    seeded(&pool).await;
    let router = as_user(&pool, ADMIN);
    for url in [
        "https://user:s3cr3t-pass@git.example.com/r.git",
        "https://ghp_tokenvalue@git.example.com/r.git",
    ] {
        let reply = create_source(&router, url).await;
        assert_refused(&reply, "repo_url");
        assert!(reply.text.contains("credential"), "{}", reply.text);
        assert!(
            !reply.text.contains("s3cr3t") && !reply.text.contains("ghp_tokenvalue"),
            "the secret is echoed: {}",
            reply.text
        );
    }
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn file_repositories_need_the_operator_setting(pool: PgPool) {
    seeded(&pool).await;
    let reply = create_source(&as_user(&pool, ADMIN), "file:///srv/repos/r.git").await;
    assert_refused(&reply, "repo_url");
    assert!(
        reply.text.contains("ALLOW_FILE_REPOSITORIES"),
        "{}",
        reply.text
    );
    let allowing = statesight_server::app(
        state_with(
            &pool,
            statesight_server::auth::Authenticator::Injected(
                statesight_server::auth::Principal::user(ADMIN),
            ),
        )
        .with_inputs(
            statesight_core::source::InputPolicy::new(
                true,
                statesight_core::source::DEFAULT_KUBECONFIG_ROOTS,
                statesight_core::source::DEFAULT_SNAPSHOT_ROOTS,
                None,
            )
            .expect("policy"),
        ),
    );
    let reply = create_source(&allowing, "file:///srv/repos/r.git").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn cluster_paths_outside_the_operator_roots_are_refused(pool: PgPool) {
    seeded(&pool).await;
    let router = as_user(&pool, ADMIN);
    for path in [
        "/etc/shadow",
        "/proc/self/environ",
        "/",
        "/etc/statesight/kubeconfigs/../../shadow",
    ] {
        let reply = create_cluster(
            &router,
            serde_json::json!({ "name": "probe", "live_source": "kube-api", "kubeconfig_path": path }),
        )
        .await;
        assert_refused(&reply, "kubeconfig_path");
        let reply = create_cluster(
            &router,
            serde_json::json!({ "name": "probe", "live_source": "snapshot", "snapshot_dir": path }),
        )
        .await;
        assert_refused(&reply, "snapshot_dir");
        assert!(
            reply.text.contains("/var/lib/statesight/snapshots") || reply.text.contains(".."),
            "the message names the allowed roots (or the `..` it refuses): {}",
            reply.text
        );
    }
    let inside = create_cluster(
        &router,
        serde_json::json!({ "name": "probe", "live_source": "snapshot", "snapshot_dir": "/var/lib/statesight/snapshots/prod" }),
    )
    .await;
    assert_eq!(inside.status, StatusCode::CREATED, "{}", inside.text);
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn only_api_server_clusters_can_be_watched(pool: PgPool) {
    seeded(&pool).await;
    let router = as_user(&pool, ADMIN);
    for body in [
        serde_json::json!({ "name": "probe", "live_source": "kubectl", "watch": true }),
        serde_json::json!({ "name": "probe", "live_source": "snapshot", "watch": true,
            "snapshot_dir": "/var/lib/statesight/snapshots/prod" }),
    ] {
        let reply = create_cluster(&router, body).await;
        assert_refused(&reply, "watch");
        assert!(
            reply.text.contains("kube-api and in-cluster"),
            "{}",
            reply.text
        );
    }
    let reply = create_cluster(
        &router,
        serde_json::json!({ "name": "probe", "live_source": "in-cluster", "watch": true }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let created: serde_json::Value = serde_json::from_str(&reply.text).expect("json");
    assert_eq!(created["data"]["watch"], true);
    let id = created["data"]["id"].as_str().expect("id").to_owned();
    // Turning it off keeps the cluster; a watched cluster's record says so when read.
    let reply = send_json(
        &router,
        Method::PUT,
        &format!("/api/v1/clusters/{id}"),
        None,
        &serde_json::json!({ "name": "probe", "live_source": "in-cluster" }).to_string(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let updated: serde_json::Value = serde_json::from_str(&reply.text).expect("json");
    assert_eq!(updated["data"]["watch"], false, "watch defaults to false");
}
