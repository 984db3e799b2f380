-- The operator audit log becomes one SHA-256 hash chain over every entry (not per workspace:
-- provisioning entries belong to no workspace, and workspaces and users can be deleted).
-- Each entry hashes immutable copies of what it records; the foreign keys stay for joins
-- and may still be set to null when a workspace or user is deleted, but nothing hashed ever
-- changes. The application computes and checks the hashes (crates/store/src/audit.rs); the
-- database only keeps them and refuses to change them.

ALTER TABLE operator_audit_log
    ADD COLUMN workspace_key uuid,
    ADD COLUMN actor_issuer  text,
    ADD COLUMN actor_subject text,
    -- Position in the chain (1, 2, …), the previous entry's hash and this entry's hash:
    -- NULL only on entries written before the chain existed, until they are sealed (the
    -- first append after this migration seals them, oldest first).
    ADD COLUMN seq        bigint,
    ADD COLUMN prev_hash  bytea,
    ADD COLUMN entry_hash bytea;

-- One entry per position: two writers can never both extend the chain from one head.
CREATE UNIQUE INDEX operator_audit_log_seq_idx ON operator_audit_log (seq);
CREATE INDEX operator_audit_log_unsealed_idx ON operator_audit_log (id) WHERE seq IS NULL;
CREATE INDEX operator_audit_log_workspace_seq_idx
    ON operator_audit_log (workspace_key, seq DESC) WHERE seq IS NOT NULL;

CREATE OR REPLACE FUNCTION operator_audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
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
        -- ON DELETE SET NULL from workspaces/users: only those references change.
        IF NEW.seq IS NOT DISTINCT FROM OLD.seq
           AND NEW.prev_hash IS NOT DISTINCT FROM OLD.prev_hash
           AND NEW.entry_hash IS NOT DISTINCT FROM OLD.entry_hash
           AND NEW.workspace_key IS NOT DISTINCT FROM OLD.workspace_key
           AND NEW.actor_issuer IS NOT DISTINCT FROM OLD.actor_issuer
           AND NEW.actor_subject IS NOT DISTINCT FROM OLD.actor_subject
        THEN
            RETURN NEW;
        END IF;
        -- Sealing an entry written before the chain existed: its chain columns go from
        -- NULL to set, once.
        IF OLD.seq IS NULL AND NEW.seq IS NOT NULL
           AND NEW.prev_hash IS NOT NULL AND NEW.entry_hash IS NOT NULL
        THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'operator_audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
