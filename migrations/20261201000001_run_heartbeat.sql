-- A running run's liveness: the worker processing it touches `heartbeat_at` every lease
-- renewal. A running run whose heartbeat is older than three renewals, and whose
-- application lease in Redis is gone, lost its worker and is queued again.
ALTER TABLE analysis_runs ADD COLUMN heartbeat_at timestamptz;
CREATE INDEX analysis_runs_in_flight_idx ON analysis_runs (application_id, queued_at)
    WHERE status IN ('queued', 'running');
