-- One row that every catalog write transaction updates first. It serialises writers and
-- hands out change-log positions in commit order, with no gaps (see next_seq in
-- crates/tenancy/src/catalog/mod.rs). It starts where the existing log ends.
CREATE TABLE catalog_clock (
    id  INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);

INSERT INTO catalog_clock (id, seq) SELECT 1, COALESCE(MAX(seq), 0) FROM changes;
