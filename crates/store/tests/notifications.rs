//! The notification outbox on a real database: concurrent claims never hand one delivery
//! to two senders, an expired claim's outcome is not recorded over a newer attempt, and
//! pruning keeps pending deliveries.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;
use statesight_core::wire::{EventKind, NotificationFormat, Severity, WorkspaceEvent};
use statesight_store::audit::Actor;
use statesight_store::notifications::{self as store, EndpointValues, Failure, Next};
use statesight_store::seed::{self, ExampleLocation};
use uuid::Uuid;

async fn endpoint_with_deliveries(pool: &PgPool, count: usize) -> Uuid {
    seed::run(
        pool,
        &ExampleLocation {
            examples_dir: String::from("/nonexistent/examples"),
            repos_dir: String::from("/nonexistent/repos"),
        },
    )
    .await
    .expect("seed");
    let workspace = seed::PAYMENTS_WORKSPACE_ID;
    let endpoint = store::create_endpoint(
        pool,
        &Actor::system("test"),
        workspace,
        &EndpointValues {
            name: String::from("receiver"),
            url: String::from("https://hooks.example.com/"),
            events: vec![EventKind::RunFailed],
            min_severity: Severity::Low,
            format: NotificationFormat::Json,
            enabled: true,
        },
        "outbox-test-secret-0123456789",
    )
    .await
    .expect("endpoint");
    let events: Vec<WorkspaceEvent> = (0..count)
        .map(|n| {
            serde_json::from_value(json!({
                "kind": "run.failed", "workspace_id": workspace,
                "application_id": seed::LEDGER_APPLICATION_ID, "application_name": "ledger",
                "run_id": Uuid::new_v4(), "error": format!("failure {n}"),
                "at": "2026-12-03T10:00:00Z",
            }))
            .expect("event")
        })
        .collect();
    assert_eq!(
        store::enqueue(pool, &events).await.expect("enqueue"),
        count as u64
    );
    endpoint.id
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn concurrent_claims_share_the_outbox_without_overlap(pool: PgPool) {
    endpoint_with_deliveries(&pool, 40).await;
    let claims = (0..4).map(|_| {
        let pool = pool.clone();
        async move { store::claim_due(&pool, 8, Duration::from_secs(60)).await }
    });
    let first_round = futures_join(claims).await;
    let mut seen = HashSet::new();
    for delivery in first_round.iter().flatten() {
        assert!(seen.insert(delivery.id), "claimed twice: {}", delivery.id);
        assert_eq!(delivery.attempt, 1);
    }
    assert_eq!(seen.len(), 32);
    let rest = store::claim_due(&pool, 100, Duration::from_secs(60))
        .await
        .expect("claim");
    assert_eq!(rest.len(), 8, "only the unclaimed ones");
    assert!(rest.iter().all(|delivery| !seen.contains(&delivery.id)));
    assert!(
        store::claim_due(&pool, 100, Duration::from_secs(60))
            .await
            .expect("claim")
            .is_empty(),
        "claimed deliveries are held"
    );
}

async fn futures_join<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = statesight_store::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut results = Vec::new();
    for handle in handles {
        results.push(handle.await.expect("task").expect("claim"));
    }
    results
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn an_expired_claim_does_not_overwrite_a_newer_attempt(pool: PgPool) {
    let endpoint = endpoint_with_deliveries(&pool, 1).await;
    // A hold of zero: the claim expires at once, as when its sender died.
    let stale = store::claim_due(&pool, 1, Duration::ZERO)
        .await
        .expect("claim")
        .pop()
        .expect("one");
    let current = store::claim_due(&pool, 1, Duration::from_secs(60))
        .await
        .expect("claim")
        .pop()
        .expect("due again");
    assert_eq!((stale.id, current.attempt), (current.id, 2));
    let failure = Failure {
        status_code: Some(500),
        error: String::from("answered HTTP 500"),
        next: Next::GiveUp,
    };
    assert!(
        !store::record_failed(&pool, &stale, &failure)
            .await
            .expect("record")
    );
    assert!(
        store::record_delivered(&pool, &current, 204)
            .await
            .expect("record")
    );
    let deliveries = store::list_deliveries(&pool, endpoint, None, 10)
        .await
        .expect("list")
        .items;
    assert_eq!(deliveries[0].status.as_str(), "delivered");
    assert_eq!(deliveries[0].last_status_code, Some(204));
    // Delivered rows go with pruning; nothing here is old enough yet.
    assert_eq!(
        store::prune(&pool, Duration::from_secs(3600))
            .await
            .expect("prune"),
        0
    );
    assert_eq!(store::prune(&pool, Duration::ZERO).await.expect("prune"), 1);
}
