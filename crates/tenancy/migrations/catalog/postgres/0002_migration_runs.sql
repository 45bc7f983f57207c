-- Migration runs across tenants; mirrors sqlite/0002_migration_runs.sql.
CREATE TABLE migration_runs (
    id          BIGSERIAL   PRIMARY KEY,
    kind        VARCHAR(16) NOT NULL,
    target      BIGINT,
    options     TEXT        NOT NULL,
    status      VARCHAR(16) NOT NULL,
    actor       VARCHAR(255),
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ
);

CREATE TABLE migration_run_tenants (
    run_id      BIGINT      NOT NULL REFERENCES migration_runs (id) ON DELETE CASCADE,
    tenant_id   VARCHAR(63) COLLATE "C" NOT NULL,
    status      VARCHAR(16) NOT NULL,
    detail      TEXT,
    versions    TEXT,
    finished_at TIMESTAMPTZ,
    PRIMARY KEY (run_id, tenant_id)
);
