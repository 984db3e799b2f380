-- Kubernetes audit events, per cluster: what the API server's webhook backend or an
-- imported log file recorded, kept only for completed, mutating requests on objects.
-- Tokens authenticate one cluster's webhook; only their SHA-256 is stored.

CREATE TABLE cluster_audit_tokens (
    id            uuid PRIMARY KEY,
    cluster_id    uuid NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    -- SHA-256 of the whole token. Tokens carry 256 random bits, so a fast hash is enough.
    token_sha256  bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    -- The token's first characters, to tell tokens apart in lists.
    prefix        text NOT NULL CHECK (length(prefix) BETWEEN 4 AND 16),
    created_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX cluster_audit_tokens_cluster_idx ON cluster_audit_tokens (cluster_id, created_at);

CREATE TABLE k8s_audit_events (
    cluster_id     uuid NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    audit_id       text NOT NULL CHECK (audit_id <> ''),
    at             timestamptz NOT NULL,
    level          text NOT NULL CHECK (level IN ('Metadata', 'Request', 'RequestResponse')),
    verb           text NOT NULL,
    api_group      text NOT NULL,
    resource       text NOT NULL,
    namespace      text NOT NULL,
    name           text NOT NULL,
    subresource    text,
    username       text NOT NULL,
    response_code  integer,
    dry_run        boolean NOT NULL,
    -- The whole kept event (`statesight_core::k8s_audit::KeptEvent`), bodies included.
    event          jsonb NOT NULL CHECK (jsonb_typeof(event) = 'object'),
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster_id, audit_id)
);
-- Attribution reads one object's events in a time window.
CREATE INDEX k8s_audit_events_object_idx
    ON k8s_audit_events (cluster_id, resource, namespace, name, at);
-- Retention deletes by age.
CREATE INDEX k8s_audit_events_at_idx ON k8s_audit_events (at);

-- An incident's timeline shows the audit events its findings' attribution cites.
ALTER TABLE incident_timeline_events DROP CONSTRAINT incident_timeline_events_kind_check;
ALTER TABLE incident_timeline_events ADD CONSTRAINT incident_timeline_events_kind_check
    CHECK (kind IN ('git_revision', 'managed_fields_time', 'first_seen', 'reobserved',
                    'suppressed', 'rule_changed', 'resolved', 'reopened', 'audit_event'));

-- "Since when, in Git" per field, as found at one commit: history at a commit never
-- changes, so any worker re-analysing that commit reads it here instead of from Git.
CREATE TABLE desired_since (
    source_id           uuid NOT NULL REFERENCES source_definitions (id) ON DELETE CASCADE,
    commit_sha          text NOT NULL,
    file                text NOT NULL,
    resource_group      text NOT NULL,
    resource_kind       text NOT NULL,
    resource_namespace  text NOT NULL,
    resource_name       text NOT NULL,
    path                text NOT NULL,
    since               jsonb NOT NULL CHECK (jsonb_typeof(since) = 'object'),
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_id, commit_sha, file, resource_group, resource_kind,
                 resource_namespace, resource_name, path)
);
CREATE INDEX desired_since_created_idx ON desired_since (created_at);
