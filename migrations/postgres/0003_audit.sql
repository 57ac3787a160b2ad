-- The decision audit: one row per hook call that returned cards or rating actions, from every
-- instance. No token, no record text; the patient only as an HMAC under the configured key.
CREATE TABLE audit (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recorded_at        TIMESTAMPTZ NOT NULL,
    service_id         TEXT NOT NULL,
    hook_instance      TEXT NOT NULL,
    client_issuer      TEXT,
    client_tenant      TEXT,
    knowledge_version  TEXT NOT NULL,
    patient_hash       TEXT,
    -- {"orders": [...], "cards": [...], "rules": [...], "safetyFlags": [...]}, as JSON text: read
    -- back whole, never queried inside.
    decision           TEXT NOT NULL
);

CREATE INDEX audit_by_time ON audit (recorded_at);
CREATE INDEX audit_by_patient ON audit (patient_hash);
