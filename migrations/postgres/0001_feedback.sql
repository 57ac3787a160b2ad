-- Feedback on our cards (CDS Hooks 2.0 §Feedback), one row per item: the same columns as
-- migrations/sqlite/0001_feedback.sql, in PostgreSQL's own types. Nothing here identifies a patient.
CREATE TABLE feedback (
    id                       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- When we stored it.
    received_at              TIMESTAMPTZ NOT NULL,
    service_id               TEXT NOT NULL,
    card_uuid                TEXT NOT NULL,
    outcome                  TEXT NOT NULL CHECK (outcome IN ('accepted', 'overridden')),
    -- Accepted suggestion uuids; NULL unless the outcome is 'accepted'.
    accepted_suggestions     TEXT[],
    override_reason_system   TEXT,
    override_reason_code     TEXT,
    override_reason_display  TEXT,
    -- Free text typed by the clinician: stored, never logged.
    override_user_comment    TEXT,
    -- When the clinician acted, as the client reported it.
    outcome_timestamp        TIMESTAMPTZ NOT NULL,
    -- Who sent it, from the verified client JWT (NULL when tokens are not required).
    client_issuer            TEXT,
    client_tenant            TEXT,
    -- UUID v5 of the item's content (the same function as the SQLite store's): a client retrying
    -- the same POST, to this instance or another, stores it once.
    fingerprint              TEXT NOT NULL UNIQUE
);

CREATE INDEX feedback_by_card ON feedback (card_uuid);
CREATE INDEX feedback_by_service_time ON feedback (service_id, received_at);
