-- The catalog clock; mirrors sqlite/0005_change_clock.sql.
CREATE TABLE catalog_clock (
    id  BIGINT NOT NULL PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);

INSERT INTO catalog_clock (id, seq) SELECT 1, COALESCE(MAX(seq), 0) FROM changes;
