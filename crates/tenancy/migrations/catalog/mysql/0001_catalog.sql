-- The tenant catalog on MySQL and MariaDB; mirrors sqlite/0001_catalog.sql. Tables use
-- utf8mb4 with a binary collation, so identifiers compare and sort byte-wise as on SQLite
-- (MySQL's default collations ignore case). Foreign keys are written as table constraints:
-- MySQL ignores REFERENCES on a column.
CREATE TABLE tenants (
    id               VARCHAR(63)  NOT NULL PRIMARY KEY,
    name             VARCHAR(255) NOT NULL,
    status           VARCHAR(16)  NOT NULL,
    plan             VARCHAR(64),
    data             TEXT         NOT NULL,
    server           VARCHAR(63)  NOT NULL,
    database_name    VARCHAR(128) NOT NULL,
    retry_after_secs BIGINT,
    reason           TEXT,
    created_at       DATETIME(6)  NOT NULL,
    updated_at       DATETIME(6)  NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE INDEX tenants_status ON tenants (status);
CREATE UNIQUE INDEX tenants_placement ON tenants (server, database_name);

CREATE TABLE domains (
    host       VARCHAR(253) NOT NULL PRIMARY KEY,
    tenant_id  VARCHAR(63)  NOT NULL,
    is_primary BIGINT       NOT NULL DEFAULT 0,
    FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE INDEX domains_tenant ON domains (tenant_id);

-- Every catalog change appends here in the same transaction. `seq` is given by the
-- catalog clock (0005), not by AUTO_INCREMENT, so that it follows commit order.
CREATE TABLE changes (
    seq       BIGINT      NOT NULL PRIMARY KEY,
    tenant_id VARCHAR(63),
    action    VARCHAR(64) NOT NULL,
    detail    TEXT        NOT NULL,
    actor     VARCHAR(255),
    at        DATETIME(6) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
