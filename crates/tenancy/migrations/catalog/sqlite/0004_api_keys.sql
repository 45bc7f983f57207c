-- API keys for the admin API. Only the SHA-256 of the whole key is kept; `id` is the public
-- part printed in the key itself, so a presented key is found without scanning.
-- `scopes` is a space-separated list, for example `tenants:read tenants:write`.
CREATE TABLE api_keys (
    id            VARCHAR(32)  NOT NULL PRIMARY KEY,
    name          VARCHAR(255),
    scopes        TEXT         NOT NULL,
    secret_sha256 VARCHAR(64)  NOT NULL,
    created_at    TEXT         NOT NULL,
    expires_at    TEXT,
    last_used_at  TEXT,
    revoked_at    TEXT
);

-- The change log doubles as the audit log: where a change came from over the network.
ALTER TABLE changes ADD COLUMN client_addr VARCHAR(64);

CREATE INDEX changes_actor ON changes (actor, seq);
CREATE INDEX changes_tenant ON changes (tenant_id, seq);
