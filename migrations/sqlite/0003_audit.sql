-- The decision audit: one row per hook call that returned cards or rating actions.
-- No token, no record text; the patient only as an HMAC under the configured key (NULL without one).
CREATE TABLE audit (
    id                 INTEGER PRIMARY KEY,
    -- RFC 3339 text in UTC.
    recorded_at        TEXT NOT NULL,
    service_id         TEXT NOT NULL,
    hook_instance      TEXT NOT NULL,
    client_issuer      TEXT,
    client_tenant      TEXT,
    knowledge_version  TEXT NOT NULL,
    patient_hash       TEXT,
    -- JSON: {"orders": [...], "cards": [...], "rules": [...], "safetyFlags": [...]}.
    decision           TEXT NOT NULL
);

CREATE INDEX audit_by_time ON audit (recorded_at);
CREATE INDEX audit_by_patient ON audit (patient_hash);
