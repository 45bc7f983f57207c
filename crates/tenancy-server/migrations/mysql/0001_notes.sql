-- The notes workload (shared/WORKLOAD.md) on MySQL and MariaDB. Times are stored in UTC.
CREATE TABLE notes (
    id         BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at DATETIME(3) NOT NULL DEFAULT (UTC_TIMESTAMP(3))
) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
