-- Real time: clusters a worker watches, the objects each application tracks, and the
-- cluster's live-state cache that the watching worker keeps and any worker reads.

ALTER TABLE clusters
    ADD COLUMN watch_enabled boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT clusters_watch_live_source
        CHECK (NOT watch_enabled OR live_source IN ('kube-api', 'in-cluster'));

ALTER TABLE analysis_runs DROP CONSTRAINT analysis_runs_trigger_check;
ALTER TABLE analysis_runs ADD CONSTRAINT analysis_runs_trigger_check
    CHECK (trigger IN ('manual', 'schedule', 'webhook', 'seed', 'watch'));

ALTER TABLE live_provenance DROP CONSTRAINT live_provenance_method_check;
ALTER TABLE live_provenance ADD CONSTRAINT live_provenance_method_check
    CHECK (method IN ('kube-api', 'in-cluster', 'kubectl', 'snapshot', 'synthetic', 'watch-cache'));
ALTER TABLE live_provenance DROP CONSTRAINT live_provenance_observed_at_source_check;
ALTER TABLE live_provenance ADD CONSTRAINT live_provenance_observed_at_source_check
    CHECK (observed_at_source IN ('collector', 'capture_file', 'file_times', 'watch'));

-- The objects an application's latest successful analysis compared, replaced by each one.
-- The watcher of the application's cluster watches every (kind, namespace) listed here.
CREATE TABLE tracked_resources (
    workspace_id    uuid NOT NULL,
    application_id  uuid NOT NULL,
    api_version     text NOT NULL CHECK (api_version <> ''),
    resource_group  text NOT NULL DEFAULT '',
    kind            text NOT NULL CHECK (kind <> ''),
    -- '' for cluster-scoped kinds.
    namespace       text NOT NULL DEFAULT '',
    name            text NOT NULL CHECK (name <> ''),
    -- The commit the analysis compared against: a watch-triggered analysis reuses it.
    revision        text NOT NULL,
    -- The object's resourceVersion the analysis saw (NULL: absent, or not known): a watched
    -- change to the same version is not a reason to analyse again.
    resource_version text,
    PRIMARY KEY (application_id, resource_group, kind, namespace, name),
    FOREIGN KEY (workspace_id, application_id)
        REFERENCES applications (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX tracked_resources_object_idx
    ON tracked_resources (resource_group, kind, namespace, name);

-- One watch of a watched cluster: a (group, kind, namespace) some application tracks.
-- `resource_version` is where the watch resumes; `synced_at` is the end of its latest
-- complete list; `seen_at` the latest moment it was known connected (event, bookmark or
-- list). The cache below is complete for the pair only while `synced_at` is set.
CREATE TABLE cluster_watches (
    workspace_id      uuid NOT NULL,
    cluster_id        uuid NOT NULL,
    resource_group    text NOT NULL DEFAULT '',
    kind              text NOT NULL CHECK (kind <> ''),
    namespace         text NOT NULL DEFAULT '',
    api_version       text NOT NULL,
    resource_version  text,
    synced_at         timestamptz,
    seen_at           timestamptz,
    holder            text NOT NULL,
    PRIMARY KEY (cluster_id, resource_group, kind, namespace),
    FOREIGN KEY (workspace_id, cluster_id)
        REFERENCES clusters (workspace_id, id) ON DELETE CASCADE
);

-- The live-state cache: each watched object as the API server last sent it.
CREATE TABLE live_objects (
    workspace_id      uuid NOT NULL,
    cluster_id        uuid NOT NULL,
    resource_group    text NOT NULL DEFAULT '',
    kind              text NOT NULL,
    namespace         text NOT NULL DEFAULT '',
    name              text NOT NULL,
    resource_version  text NOT NULL,
    object            jsonb NOT NULL,
    observed_at       timestamptz NOT NULL,
    PRIMARY KEY (cluster_id, resource_group, kind, namespace, name),
    FOREIGN KEY (workspace_id, cluster_id)
        REFERENCES clusters (workspace_id, id) ON DELETE CASCADE
);
