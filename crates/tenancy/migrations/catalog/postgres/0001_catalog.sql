-- The tenant catalog on PostgreSQL; mirrors sqlite/0001_catalog.sql. Identifiers compare
-- and sort byte-wise (COLLATE "C"), as on SQLite, whatever the database's collation.
CREATE TABLE tenants (
    id               VARCHAR(63)  COLLATE "C" NOT NULL PRIMARY KEY,
    name             VARCHAR(255) NOT NULL,
    status           VARCHAR(16)  NOT NULL,
    plan             VARCHAR(64),
    data             TEXT         NOT NULL,
    server           VARCHAR(63)  NOT NULL,
    database_name    VARCHAR(128) NOT NULL,
    retry_after_secs BIGINT,
    reason           TEXT,
    created_at       TIMESTAMPTZ  NOT NULL,
    updated_at       TIMESTAMPTZ  NOT NULL
);

CREATE INDEX tenants_status ON tenants (status);
CREATE UNIQUE INDEX tenants_placement ON tenants (server, database_name);

CREATE TABLE domains (
    host       VARCHAR(253) COLLATE "C" NOT NULL PRIMARY KEY,
    tenant_id  VARCHAR(63)  COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    is_primary BIGINT       NOT NULL DEFAULT 0
);

CREATE INDEX domains_tenant ON domains (tenant_id);

-- Every catalog change appends here in the same transaction. `seq` is given by the
-- catalog clock (0005), not by a sequence, so that it follows commit order.
CREATE TABLE changes (
    seq       BIGINT      NOT NULL PRIMARY KEY,
    tenant_id VARCHAR(63) COLLATE "C",
    action    VARCHAR(64) NOT NULL,
    detail    TEXT        NOT NULL,
    actor     VARCHAR(255),
    at        TIMESTAMPTZ NOT NULL
);
