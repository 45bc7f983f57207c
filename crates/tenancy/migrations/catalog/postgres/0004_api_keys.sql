-- API keys for the admin API; mirrors sqlite/0004_api_keys.sql.
CREATE TABLE api_keys (
    id            VARCHAR(32)  COLLATE "C" NOT NULL PRIMARY KEY,
    name          VARCHAR(255),
    scopes        TEXT         NOT NULL,
    secret_sha256 VARCHAR(64)  NOT NULL,
    created_at    TIMESTAMPTZ  NOT NULL,
    expires_at    TIMESTAMPTZ,
    last_used_at  TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ
);

ALTER TABLE changes ADD COLUMN client_addr VARCHAR(64);

CREATE INDEX changes_actor ON changes (actor, seq);
CREATE INDEX changes_tenant ON changes (tenant_id, seq);
