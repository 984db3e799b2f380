//! The watch cache on the real database: writes are conditional on the resourceVersion (a
//! replayed event or an unchanged relist is no change), a list removes what the server no
//! longer has, readers get the cache only while every watch they need is synced and fresh,
//! and pruning forgets what no watch keeps.

use chrono::{Duration, Utc};
use serde_json::json;
use sqlx::PgPool;
use statesight_core::wire::Cluster;
use statesight_store::seed::{self, ExampleLocation};
use statesight_store::watch::{self, Changed, LiveObject, ObjectKey, WatchTarget};
use uuid::Uuid;

const CLUSTER: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000302);

async fn watched_cluster(pool: &PgPool) -> Cluster {
    seed::run(
        pool,
        &ExampleLocation {
            examples_dir: String::from("/srv/statesight/examples"),
            repos_dir: String::from("/srv/statesight/repos"),
        },
    )
    .await
    .expect("seed");
    sqlx::query(
        "UPDATE clusters SET live_source = 'kube-api', snapshot_dir = NULL, watch_enabled = true WHERE id = $1",
    )
    .bind(CLUSTER)
    .execute(pool)
    .await
    .expect("watch the cluster");
    statesight_store::onboarding::get_cluster(pool, CLUSTER)
        .await
        .expect("get")
        .expect("cluster")
}

fn target() -> WatchTarget {
    WatchTarget {
        group: String::from("apps"),
        kind: String::from("Deployment"),
        namespace: Some(String::from("shop")),
        api_version: String::from("apps/v1"),
    }
}

fn key(name: &str) -> ObjectKey {
    ObjectKey {
        group: String::from("apps"),
        kind: String::from("Deployment"),
        namespace: Some(String::from("shop")),
        name: name.to_owned(),
    }
}

fn live(name: &str, version: &str, replicas: u32) -> LiveObject {
    LiveObject {
        key: key(name),
        resource_version: version.to_owned(),
        object: json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "shop", "resourceVersion": version},
            "spec": {"replicas": replicas}}),
    }
}

fn names(changed: &[Changed]) -> Vec<(String, Option<String>)> {
    changed
        .iter()
        .map(|c| (c.key.name.clone(), c.resource_version.clone()))
        .collect()
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn only_new_versions_are_changes_and_a_list_is_the_whole_truth(pool: PgPool) {
    let cluster = watched_cluster(&pool).await;
    let now = Utc::now();
    let first = watch::record_list(
        &pool,
        &cluster,
        &target(),
        "w1",
        &[live("a", "10", 1), live("b", "11", 1)],
        "11",
        now,
    )
    .await
    .expect("list");
    assert_eq!(
        names(&first),
        [
            ("a".into(), Some("10".into())),
            ("b".into(), Some("11".into()))
        ]
    );
    // The same list again: nothing changed.
    let again = watch::record_list(
        &pool,
        &cluster,
        &target(),
        "w1",
        &[live("a", "10", 1), live("b", "11", 1)],
        "11",
        now,
    )
    .await
    .expect("list");
    assert!(again.is_empty(), "{again:?}");
    // A replayed event of a version already kept is no change; a new one is.
    let replay = watch::record_events(
        &pool,
        &cluster,
        &target(),
        "w1",
        &[live("a", "10", 1)],
        &[],
        "11",
        now,
    )
    .await
    .expect("events");
    assert!(replay.is_empty());
    let modified = watch::record_events(
        &pool,
        &cluster,
        &target(),
        "w1",
        &[live("a", "12", 3)],
        &[],
        "12",
        now,
    )
    .await
    .expect("events");
    assert_eq!(names(&modified), [("a".into(), Some("12".into()))]);
    // A relist without b: b is gone; a deletion of something not cached is no change.
    let relisted = watch::record_list(
        &pool,
        &cluster,
        &target(),
        "w1",
        &[live("a", "12", 3)],
        "13",
        now,
    )
    .await
    .expect("list");
    assert_eq!(names(&relisted), [("b".into(), None)]);
    let deleted = watch::record_events(
        &pool,
        &cluster,
        &target(),
        "w1",
        &[],
        &[key("b")],
        "14",
        now,
    )
    .await
    .expect("events");
    assert!(deleted.is_empty());
    let position = watch::position(&pool, cluster.id, &target())
        .await
        .expect("position")
        .expect("kept");
    assert_eq!(position.resource_version.as_deref(), Some("14"));
    assert!(position.synced_at.is_some());
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn readers_get_the_cache_only_when_it_is_synced_and_fresh(pool: PgPool) {
    let cluster = watched_cluster(&pool).await;
    let wanted = [key("a"), key("missing")];
    let fresh_since = Utc::now() - Duration::seconds(15);
    assert!(
        watch::read_cache(&pool, cluster.id, &wanted, fresh_since)
            .await
            .expect("read")
            .is_none(),
        "never listed: not used"
    );
    let listed_at = Utc::now();
    watch::record_list(
        &pool,
        &cluster,
        &target(),
        "w1",
        &[live("a", "10", 2)],
        "10",
        listed_at,
    )
    .await
    .expect("list");
    let cached = watch::read_cache(&pool, cluster.id, &wanted, fresh_since)
        .await
        .expect("read")
        .expect("synced and fresh");
    assert_eq!(
        cached.objects.len(),
        1,
        "the absent one is simply not there"
    );
    assert_eq!(cached.objects[0]["spec"]["replicas"], 2);
    assert_eq!(
        cached.observed_at.timestamp_millis(),
        listed_at.timestamp_millis()
    );
    // A kind whose watch was never listed makes the whole read fall back.
    let mixed = [
        key("a"),
        ObjectKey {
            kind: String::from("StatefulSet"),
            ..key("s")
        },
    ];
    assert!(
        watch::read_cache(&pool, cluster.id, &mixed, fresh_since)
            .await
            .expect("read")
            .is_none()
    );
    // Stale: not heard from within the lease.
    assert!(
        watch::read_cache(
            &pool,
            cluster.id,
            &wanted,
            Utc::now() + Duration::seconds(1)
        )
        .await
        .expect("read")
        .is_none()
    );
    // Touching by the holder makes it fresh again; touching by another holder does not.
    let later = Utc::now() + Duration::seconds(5);
    watch::touch(&pool, cluster.id, &[target()], "someone-else", later)
        .await
        .expect("touch");
    assert!(
        watch::read_cache(&pool, cluster.id, &wanted, later)
            .await
            .expect("read")
            .is_none()
    );
    watch::touch(&pool, cluster.id, &[target()], "w1", later)
        .await
        .expect("touch");
    // (The database keeps microseconds.)
    let just_before = later - Duration::milliseconds(1);
    assert!(
        watch::read_cache(&pool, cluster.id, &wanted, just_before)
            .await
            .expect("read")
            .is_some()
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn pruning_forgets_caches_no_watch_keeps(pool: PgPool) {
    let cluster = watched_cluster(&pool).await;
    watch::record_list(
        &pool,
        &cluster,
        &target(),
        "w1",
        &[live("a", "10", 2)],
        "10",
        Utc::now(),
    )
    .await
    .expect("list");
    // No application tracks apps/Deployment in shop: the cache goes.
    assert_eq!(watch::prune(&pool).await.expect("prune"), 1);
    assert!(
        watch::position(&pool, cluster.id, &target())
            .await
            .expect("position")
            .is_none()
    );
    assert_eq!(watch::prune(&pool).await.expect("prune"), 0);
}
