-- Traffic rules (rate limit, IP allow and block lists) per plan and per tenant. `scope` is
-- `plan:<name>` or `tenant:<id>`; `rules` is the JSON of `tenancy::traffic::TrafficRules`.
CREATE TABLE traffic_rules (
    scope      VARCHAR(128) PRIMARY KEY,
    rules      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
