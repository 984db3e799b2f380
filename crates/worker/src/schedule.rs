//! `ANALYSIS_INTERVAL`: every application is analysed once per interval, by whichever
//! worker takes that interval's lock first (so N workers do not enqueue N times).

use std::time::Duration;

use sqlx::PgPool;
use statesight_core::wire::RunTrigger;
use statesight_store::audit::Actor;
use statesight_store::queue::Queue;

pub async fn tick(pool: &PgPool, queue: &Queue, interval: Duration) {
    let interval_ms = u64::try_from(interval.as_millis())
        .unwrap_or(u64::MAX)
        .max(1000);
    let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
    let slot = now_ms / interval_ms;
    match queue.try_lock(&format!("schedule:{slot}"), interval).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(error) => {
            tracing::debug!(%error, "schedule lock unavailable");
            return;
        }
    }
    let applications = match statesight_store::runs::all_application_ids(pool).await {
        Ok(applications) => applications,
        Err(error) => {
            tracing::warn!(%error, "scheduled analysis: listing applications failed");
            return;
        }
    };
    let actor = Actor::system("schedule");
    let mut queued = 0;
    for application_id in applications {
        match statesight_store::runs::request_analysis(
            pool,
            queue,
            &actor,
            application_id,
            None,
            RunTrigger::Schedule,
        )
        .await
        {
            Ok(statesight_store::runs::AnalysisRequest::Created(_)) => queued += 1,
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, %application_id, "scheduled analysis could not be queued")
            }
        }
    }
    tracing::info!(slot, queued, "scheduled analyses queued");
}
