-- The tenant catalog. Kept to SQL that PostgreSQL and MySQL also accept in spirit (text
-- timestamps in RFC 3339, JSON as text) so the other backends' files mirror this one.
CREATE TABLE tenants (
    id               VARCHAR(63)  NOT NULL PRIMARY KEY,
    name             VARCHAR(255) NOT NULL,
    status           VARCHAR(16)  NOT NULL,
    plan             VARCHAR(64),
    data             TEXT         NOT NULL,
    server           VARCHAR(63)  NOT NULL,
    database_name    VARCHAR(128) NOT NULL,
    retry_after_secs INTEGER,
    reason           TEXT,
    created_at       TEXT         NOT NULL,
    updated_at       TEXT         NOT NULL
);

CREATE INDEX tenants_status ON tenants (status);
CREATE UNIQUE INDEX tenants_placement ON tenants (server, database_name);

CREATE TABLE domains (
    host       VARCHAR(253) NOT NULL PRIMARY KEY,
    tenant_id  VARCHAR(63)  NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    is_primary INTEGER      NOT NULL DEFAULT 0
);

CREATE INDEX domains_tenant ON domains (tenant_id);

-- Every catalog change appends here in the same transaction. Other processes read it to
-- invalidate their caches; the audit log and webhooks build on it.
CREATE TABLE changes (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id VARCHAR(63),
    action    VARCHAR(64) NOT NULL,
    detail    TEXT        NOT NULL,
    actor     VARCHAR(255),
    at        TEXT        NOT NULL
);
