-- StateSight initial schema.
--
-- Tenant integrity lives in the database: every tenant-owned table carries `workspace_id`
-- and exposes `UNIQUE (workspace_id, id)`, so that references between tenant-owned rows are
-- composite foreign keys on `(workspace_id, id)`. A row can then only point at rows of its
-- own workspace, whatever the application code does.

-- Identity ----------------------------------------------------------------------------

CREATE TABLE workspaces (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL UNIQUE CHECK (position('@' IN email) > 1),
    display_name  text NOT NULL CHECK (length(btrim(display_name)) BETWEEN 1 AND 200),
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- A verified OIDC identity (issuer, subject) maps to exactly one local user. Identities that
-- are not listed here are denied (`identity_not_provisioned`).
CREATE TABLE user_identities (
    issuer      text NOT NULL CHECK (issuer <> ''),
    subject     text NOT NULL CHECK (subject <> ''),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX user_identities_user_idx ON user_identities (user_id);

CREATE TABLE workspace_memberships (
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role          text NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX workspace_memberships_user_idx ON workspace_memberships (user_id);

-- Onboarding --------------------------------------------------------------------------

-- How the worker reads live state for this cluster. Each mode requires its own settings.
CREATE TABLE clusters (
    id               uuid PRIMARY KEY,
    workspace_id     uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name             text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    description      text NOT NULL DEFAULT '',
    live_source      text NOT NULL
                     CHECK (live_source IN ('kube-api', 'in-cluster', 'kubectl', 'snapshot')),
    kubeconfig_path  text,
    kube_context     text,
    snapshot_dir     text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, id),
    UNIQUE (workspace_id, name),
    CHECK (live_source <> 'snapshot' OR snapshot_dir IS NOT NULL),
    CHECK (live_source = 'snapshot' OR snapshot_dir IS NULL),
    CHECK (live_source NOT IN ('in-cluster', 'snapshot')
           OR (kubeconfig_path IS NULL AND kube_context IS NULL))
);

CREATE TABLE source_definitions (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    repo_url      text NOT NULL CHECK (repo_url <> ''),
    git_ref       text NOT NULL DEFAULT 'HEAD' CHECK (git_ref <> ''),
    path          text NOT NULL DEFAULT '.' CHECK (path <> ''),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, id),
    UNIQUE (workspace_id, name)
);

-- An application's cluster and source belong to its workspace: enforced by the composite
-- foreign keys, not only by the handlers.
CREATE TABLE applications (
    id                 uuid PRIMARY KEY,
    workspace_id       uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name               text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    description        text NOT NULL DEFAULT '',
    cluster_id         uuid NOT NULL,
    source_id          uuid NOT NULL,
    default_namespace  text NOT NULL DEFAULT 'default' CHECK (default_namespace <> ''),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, id),
    UNIQUE (workspace_id, name),
    FOREIGN KEY (workspace_id, cluster_id) REFERENCES clusters (workspace_id, id),
    FOREIGN KEY (workspace_id, source_id) REFERENCES source_definitions (workspace_id, id)
);
CREATE INDEX applications_cluster_idx ON applications (workspace_id, cluster_id);
CREATE INDEX applications_source_idx ON applications (workspace_id, source_id);

-- Analyses ----------------------------------------------------------------------------

CREATE TABLE analysis_runs (
    id                    uuid PRIMARY KEY,
    workspace_id          uuid NOT NULL,
    application_id        uuid NOT NULL,
    status                text NOT NULL DEFAULT 'queued'
                          CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    trigger               text NOT NULL DEFAULT 'manual'
                          CHECK (trigger IN ('manual', 'schedule', 'webhook', 'seed')),
    requested_revision    text,
    resolved_revision     text,
    requested_by          uuid REFERENCES users (id) ON DELETE SET NULL,
    attempts              integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    error                 text,
    finding_count         integer CHECK (finding_count >= 0),
    suppressed_count      integer CHECK (suppressed_count >= 0),
    incident_count        integer CHECK (incident_count >= 0),
    queued_at             timestamptz NOT NULL DEFAULT now(),
    started_at            timestamptz,
    finished_at           timestamptz,
    UNIQUE (workspace_id, id),
    FOREIGN KEY (workspace_id, application_id)
        REFERENCES applications (workspace_id, id) ON DELETE CASCADE,
    CHECK (status <> 'failed' OR error IS NOT NULL),
    CHECK (status NOT IN ('succeeded', 'failed') OR finished_at IS NOT NULL)
);
CREATE INDEX analysis_runs_application_idx
    ON analysis_runs (application_id, queued_at DESC, id DESC);
-- At most one queued and one running analysis per application: the database backs the
-- coalescing the API promises (one run in flight, at most one follow-up).
CREATE UNIQUE INDEX analysis_runs_one_queued_idx
    ON analysis_runs (application_id) WHERE status = 'queued';
CREATE UNIQUE INDEX analysis_runs_one_running_idx
    ON analysis_runs (application_id) WHERE status = 'running';

-- Where the desired state of a run came from.
CREATE TABLE desired_provenance (
    run_id          uuid PRIMARY KEY,
    workspace_id    uuid NOT NULL,
    repo_url        text NOT NULL,
    git_ref         text NOT NULL,
    path            text NOT NULL,
    commit_sha      text NOT NULL CHECK (commit_sha ~ '^[0-9a-f]{40}([0-9a-f]{24})?$'),
    committed_at    timestamptz,
    rendered_with   text NOT NULL DEFAULT 'plain' CHECK (rendered_with IN ('plain', 'kustomize')),
    FOREIGN KEY (workspace_id, run_id) REFERENCES analysis_runs (workspace_id, id) ON DELETE CASCADE
);

-- How the live state of a run was observed. `trusted` is false for synthetic state.
CREATE TABLE live_provenance (
    run_id             uuid PRIMARY KEY,
    workspace_id       uuid NOT NULL,
    cluster_id         uuid NOT NULL,
    method             text NOT NULL
                       CHECK (method IN ('kube-api', 'in-cluster', 'kubectl', 'snapshot', 'synthetic')),
    trusted            boolean NOT NULL,
    observed_at        timestamptz NOT NULL,
    observed_at_source text NOT NULL DEFAULT 'collector'
                       CHECK (observed_at_source IN ('collector', 'capture_file', 'file_times')),
    context            text,
    has_managed_fields boolean NOT NULL,
    FOREIGN KEY (workspace_id, run_id) REFERENCES analysis_runs (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, cluster_id) REFERENCES clusters (workspace_id, id) ON DELETE CASCADE,
    CHECK (method <> 'synthetic' OR NOT trusted)
);

-- Incidents ---------------------------------------------------------------------------

-- One incident per (application, fingerprint): a re-analysis updates the same row.
CREATE TABLE incidents (
    id                  uuid PRIMARY KEY,
    workspace_id        uuid NOT NULL,
    application_id      uuid NOT NULL,
    fingerprint         text NOT NULL CHECK (fingerprint <> ''),
    resource_api_version text NOT NULL,
    resource_group      text NOT NULL DEFAULT '',
    resource_kind       text NOT NULL,
    resource_namespace  text NOT NULL DEFAULT '',
    resource_name       text NOT NULL,
    cause               text NOT NULL CHECK (cause <> ''),
    title               text NOT NULL,
    severity            text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    recommendation      text NOT NULL
                        CHECK (recommendation IN ('ignore', 'monitor', 'investigate', 'reconcile')),
    rationale           text NOT NULL,
    status              text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    finding_count       integer NOT NULL DEFAULT 0 CHECK (finding_count >= 0),
    occurrence_count    integer NOT NULL DEFAULT 1 CHECK (occurrence_count >= 1),
    recurrence_count    integer NOT NULL DEFAULT 0 CHECK (recurrence_count >= 0),
    first_seen_at       timestamptz NOT NULL,
    last_seen_at        timestamptz NOT NULL,
    resolved_at         timestamptz,
    first_run_id        uuid,
    last_run_id         uuid,
    UNIQUE (workspace_id, id),
    UNIQUE (application_id, fingerprint),
    FOREIGN KEY (workspace_id, application_id)
        REFERENCES applications (workspace_id, id) ON DELETE CASCADE,
    -- Runs are pruned after RETENTION_DAYS; the incident keeps its history without them.
    FOREIGN KEY (workspace_id, first_run_id)
        REFERENCES analysis_runs (workspace_id, id) ON DELETE SET NULL (first_run_id),
    FOREIGN KEY (workspace_id, last_run_id)
        REFERENCES analysis_runs (workspace_id, id) ON DELETE SET NULL (last_run_id),
    CHECK ((status = 'resolved') = (resolved_at IS NOT NULL))
);
CREATE INDEX incidents_workspace_idx ON incidents (workspace_id, last_seen_at DESC, id DESC);
CREATE INDEX incidents_application_idx ON incidents (application_id, status, last_seen_at DESC, id DESC);

-- A drifted field as observed by one run, with its evidence. `evidence` holds desired
-- provenance, live provenance and ownership (only when a manager owns the compared path)
-- and the attribution grade; values of Secrets are digests, never plaintext.
CREATE TABLE findings (
    id                    uuid PRIMARY KEY,
    workspace_id          uuid NOT NULL,
    incident_id           uuid NOT NULL,
    run_id                uuid,
    ordinal               integer NOT NULL CHECK (ordinal >= 0),
    resource_api_version  text NOT NULL,
    resource_group        text NOT NULL DEFAULT '',
    resource_kind         text NOT NULL,
    resource_namespace    text NOT NULL DEFAULT '',
    resource_name         text NOT NULL,
    path                  text NOT NULL,
    change                text NOT NULL
                          CHECK (change IN ('changed', 'missing_in_live', 'added_in_live', 'missing_resource')),
    desired               jsonb,
    live                  jsonb,
    owners                jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(owners) = 'array'),
    evidence              jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(evidence) = 'object'),
    observed_at           timestamptz NOT NULL,
    UNIQUE (workspace_id, id),
    UNIQUE (incident_id, run_id, ordinal),
    FOREIGN KEY (workspace_id, incident_id)
        REFERENCES incidents (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, run_id)
        REFERENCES analysis_runs (workspace_id, id) ON DELETE SET NULL (run_id)
);
CREATE INDEX findings_incident_idx ON findings (incident_id, observed_at DESC, ordinal, id);

CREATE TABLE incident_timeline_events (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL,
    incident_id   uuid NOT NULL,
    run_id        uuid,
    occurred_at   timestamptz NOT NULL,
    kind          text NOT NULL CHECK (kind IN (
                      'git_revision', 'managed_fields_time', 'first_seen', 'reobserved',
                      'suppressed', 'rule_changed', 'resolved', 'reopened')),
    summary       text NOT NULL,
    details       jsonb NOT NULL DEFAULT '{}',
    ordinal       integer NOT NULL DEFAULT 0,
    UNIQUE (workspace_id, id),
    FOREIGN KEY (workspace_id, incident_id)
        REFERENCES incidents (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, run_id)
        REFERENCES analysis_runs (workspace_id, id) ON DELETE SET NULL (run_id)
);
CREATE INDEX incident_timeline_idx ON incident_timeline_events (incident_id, occurred_at, ordinal, id);

-- Ignore rules ------------------------------------------------------------------------

-- Application-scoped when application_id is set, workspace-scoped otherwise. An
-- application rule belongs to its application's workspace (composite foreign key).
CREATE TABLE ignore_rules (
    id                uuid PRIMARY KEY,
    workspace_id      uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    application_id    uuid,
    name              text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    match_expression  text NOT NULL CHECK (match_expression = btrim(match_expression)),
    resource_ref      text,
    managed_by        text CHECK (managed_by IS NULL OR managed_by <> ''),
    reason            text NOT NULL CHECK (length(btrim(reason)) >= 1),
    enabled           boolean NOT NULL DEFAULT true,
    created_by        uuid REFERENCES users (id) ON DELETE SET NULL,
    updated_by        uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, id),
    FOREIGN KEY (workspace_id, application_id)
        REFERENCES applications (workspace_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX ignore_rules_application_name_idx
    ON ignore_rules (application_id, name) WHERE application_id IS NOT NULL;
CREATE UNIQUE INDEX ignore_rules_workspace_name_idx
    ON ignore_rules (workspace_id, name) WHERE application_id IS NULL;

-- A candidate finding an ignore rule suppressed, with the rule's name and reason as they
-- were at analysis time (editing or deleting the rule later does not rewrite history).
CREATE TABLE suppressed_findings (
    id                    uuid PRIMARY KEY,
    workspace_id          uuid NOT NULL,
    application_id        uuid NOT NULL,
    run_id                uuid,
    rule_id               uuid,
    rule_name             text NOT NULL,
    rule_reason           text NOT NULL,
    rule_scope            text NOT NULL CHECK (rule_scope IN ('application', 'workspace')),
    resource_api_version  text NOT NULL,
    resource_group        text NOT NULL DEFAULT '',
    resource_kind         text NOT NULL,
    resource_namespace    text NOT NULL DEFAULT '',
    resource_name         text NOT NULL,
    path                  text NOT NULL,
    change                text NOT NULL
                          CHECK (change IN ('changed', 'missing_in_live', 'added_in_live', 'missing_resource')),
    desired               jsonb,
    live                  jsonb,
    owners                jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(owners) = 'array'),
    observed_at           timestamptz NOT NULL,
    ordinal               integer NOT NULL DEFAULT 0,
    UNIQUE (workspace_id, id),
    FOREIGN KEY (workspace_id, application_id)
        REFERENCES applications (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, run_id)
        REFERENCES analysis_runs (workspace_id, id) ON DELETE SET NULL (run_id),
    FOREIGN KEY (workspace_id, rule_id)
        REFERENCES ignore_rules (workspace_id, id) ON DELETE SET NULL (rule_id)
);
CREATE INDEX suppressed_findings_application_idx
    ON suppressed_findings (application_id, observed_at DESC, ordinal, id);

-- Operator audit log ------------------------------------------------------------------

-- Append-only: who changed what, with before/after and the request id. The trigger below
-- refuses UPDATE and DELETE so the log cannot be rewritten through the application role.
CREATE TABLE operator_audit_log (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at    timestamptz NOT NULL DEFAULT now(),
    workspace_id   uuid REFERENCES workspaces (id) ON DELETE SET NULL,
    actor_user_id  uuid REFERENCES users (id) ON DELETE SET NULL,
    action         text NOT NULL CHECK (action <> ''),
    target_type    text NOT NULL,
    target_id      uuid,
    before         jsonb,
    after          jsonb,
    request_id     text NOT NULL
);
CREATE INDEX operator_audit_log_workspace_idx ON operator_audit_log (workspace_id, id DESC);

CREATE FUNCTION operator_audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- ON DELETE SET NULL from workspaces/users arrives here as an UPDATE that only nulls
    -- those references; allow exactly that so tenants can still be deleted.
    IF TG_OP = 'UPDATE'
       AND NEW.id = OLD.id AND NEW.occurred_at = OLD.occurred_at
       AND NEW.action = OLD.action AND NEW.target_type = OLD.target_type
       AND NEW.target_id IS NOT DISTINCT FROM OLD.target_id
       AND NEW.before IS NOT DISTINCT FROM OLD.before
       AND NEW.after IS NOT DISTINCT FROM OLD.after
       AND NEW.request_id = OLD.request_id
       AND (NEW.workspace_id IS NOT DISTINCT FROM OLD.workspace_id OR NEW.workspace_id IS NULL)
       AND (NEW.actor_user_id IS NOT DISTINCT FROM OLD.actor_user_id OR NEW.actor_user_id IS NULL)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'operator_audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER operator_audit_log_append_only
    BEFORE UPDATE OR DELETE ON operator_audit_log
    FOR EACH ROW EXECUTE FUNCTION operator_audit_log_append_only();

-- Ordering helpers ----------------------------------------------------------------------

-- Severity as a number, so lists can sort "most severe first" in SQL.
CREATE FUNCTION severity_rank(severity text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE severity WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2
                         WHEN 'low' THEN 1 ELSE 0 END
$$;
