-- The jti replay cache shared by every instance: a token's id is remembered until the token
-- expires (plus the leeway), so a token is accepted once by all instances together.
CREATE TABLE replay_jti (
    issuer        TEXT NOT NULL,
    jti           TEXT NOT NULL,
    -- Unix seconds after which the row may be swept (the token's exp plus the leeway).
    forget_after  BIGINT NOT NULL,
    PRIMARY KEY (issuer, jti)
);

CREATE INDEX replay_jti_by_expiry ON replay_jti (forget_after);
