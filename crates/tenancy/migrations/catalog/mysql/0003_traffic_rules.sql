-- Traffic rules per plan and per tenant; mirrors sqlite/0003_traffic_rules.sql.
CREATE TABLE traffic_rules (
    scope      VARCHAR(128) PRIMARY KEY,
    rules      TEXT        NOT NULL,
    updated_at DATETIME(6) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
