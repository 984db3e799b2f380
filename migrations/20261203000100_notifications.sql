-- Notifications: per-workspace outgoing webhooks and their outbox. The worker records one
-- delivery per (event, matching endpoint) after the change the event announces is
-- committed, then sends it, retrying with backoff until it is delivered or dead.

CREATE TABLE notification_endpoints (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    url           text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    -- Event kinds (`incident.opened`, …) this endpoint is sent.
    events        text[] NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 16),
    -- Incident events below this severity are not sent; run events always are.
    min_severity  text NOT NULL DEFAULT 'low'
                  CHECK (min_severity IN ('low', 'medium', 'high', 'critical')),
    format        text NOT NULL DEFAULT 'json' CHECK (format IN ('json', 'slack')),
    -- The HMAC key deliveries are signed with. Kept as typed, not hashed: the worker needs
    -- the key itself to sign, so a digest could not serve. Only the store's claim of due
    -- deliveries reads it; no API answer carries it after the creation.
    secret        text NOT NULL CHECK (length(secret) BETWEEN 16 AND 256),
    enabled       boolean NOT NULL DEFAULT true,
    -- The outcome of the latest attempt of any of its deliveries (written with it).
    last_attempt_at      timestamptz,
    last_outcome         text CHECK (last_outcome IN ('delivered', 'failed', 'dead')),
    last_status_code     integer,
    last_error           text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, id),
    UNIQUE (workspace_id, name)
);

CREATE TABLE notification_deliveries (
    id                uuid PRIMARY KEY,
    workspace_id      uuid NOT NULL,
    endpoint_id       uuid NOT NULL,
    event_kind        text NOT NULL,
    -- The `WorkspaceEvent` as announced.
    event             jsonb NOT NULL,
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'delivered', 'dead')),
    -- Attempts started. A claim counts one and moves `next_attempt_at` past the send's
    -- time limit, so a worker that dies mid-send leaves the delivery due again.
    attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    last_attempt_at   timestamptz,
    last_error        text,
    last_status_code  integer,
    delivered_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (workspace_id, endpoint_id)
        REFERENCES notification_endpoints (workspace_id, id) ON DELETE CASCADE
);
-- The sender's claim: due pending deliveries, oldest due first.
CREATE INDEX notification_deliveries_due_idx
    ON notification_deliveries (next_attempt_at) WHERE status = 'pending';
-- An endpoint's deliveries, newest first (its list and its last delivery).
CREATE INDEX notification_deliveries_endpoint_idx
    ON notification_deliveries (endpoint_id, created_at DESC, id DESC);
