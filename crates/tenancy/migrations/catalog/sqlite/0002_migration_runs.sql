-- Migration runs across tenants: one row per run, one per tenant in it, so an interrupted run
-- can be resumed and the API can show any run later.
CREATE TABLE migration_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        VARCHAR(16) NOT NULL,
    target      INTEGER,
    options     TEXT        NOT NULL,
    status      VARCHAR(16) NOT NULL,
    actor       VARCHAR(255),
    started_at  TEXT        NOT NULL,
    finished_at TEXT
);

CREATE TABLE migration_run_tenants (
    run_id      INTEGER     NOT NULL REFERENCES migration_runs (id) ON DELETE CASCADE,
    tenant_id   VARCHAR(63) NOT NULL,
    status      VARCHAR(16) NOT NULL,
    detail      TEXT,
    versions    TEXT,
    finished_at TEXT,
    PRIMARY KEY (run_id, tenant_id)
);
