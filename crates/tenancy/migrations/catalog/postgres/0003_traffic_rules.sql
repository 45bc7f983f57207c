-- Traffic rules per plan and per tenant; mirrors sqlite/0003_traffic_rules.sql.
CREATE TABLE traffic_rules (
    scope      VARCHAR(128) COLLATE "C" PRIMARY KEY,
    rules      TEXT        NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
