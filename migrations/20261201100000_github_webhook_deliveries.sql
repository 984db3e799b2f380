-- GitHub webhook deliveries already processed, by their `X-GitHub-Delivery` id, so a
-- redelivery or a replayed request does not queue analyses twice. The primary key makes the
-- claim atomic across server replicas: the first insert wins, a concurrent one waits for it
-- and finds the row. Rows older than the retention (7 days, longer than GitHub's 3-day
-- redelivery window) are pruned by the server as deliveries arrive.
CREATE TABLE github_webhook_deliveries (
    delivery_id  text PRIMARY KEY CHECK (length(delivery_id) BETWEEN 1 AND 128),
    event        text NOT NULL CHECK (length(event) BETWEEN 1 AND 64),
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX github_webhook_deliveries_received_idx ON github_webhook_deliveries (received_at);
