-- Migration runs across tenants; mirrors sqlite/0002_migration_runs.sql.
CREATE TABLE migration_runs (
    id          BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    kind        VARCHAR(16) NOT NULL,
    target      BIGINT,
    options     TEXT        NOT NULL,
    status      VARCHAR(16) NOT NULL,
    actor       VARCHAR(255),
    started_at  DATETIME(6) NOT NULL,
    finished_at DATETIME(6)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE migration_run_tenants (
    run_id      BIGINT      NOT NULL,
    tenant_id   VARCHAR(63) NOT NULL,
    status      VARCHAR(16) NOT NULL,
    detail      TEXT,
    versions    TEXT,
    finished_at DATETIME(6),
    PRIMARY KEY (run_id, tenant_id),
    FOREIGN KEY (run_id) REFERENCES migration_runs (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
