-- GitHub webhook deliveries, by their `X-GitHub-Delivery` id, so a redelivery or a replayed
-- request does not queue analyses twice. The primary key makes the claim atomic across
-- server replicas: the first insert wins. A claim is `processing` while its request acts on
-- it and `done` once it has; a failed request deletes its claim so a redelivery is processed
-- afresh, and a `processing` claim left by a server that died is taken over once stale. Rows
-- older than the retention (7 days, longer than GitHub's 3-day redelivery window) are pruned
-- by the server as deliveries arrive.
CREATE TABLE github_webhook_deliveries (
    delivery_id  text PRIMARY KEY CHECK (length(delivery_id) BETWEEN 1 AND 128),
    event        text NOT NULL CHECK (length(event) BETWEEN 1 AND 64),
    state        text NOT NULL DEFAULT 'processing' CHECK (state IN ('processing', 'done')),
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX github_webhook_deliveries_received_idx ON github_webhook_deliveries (received_at);
