-- The schema of index.db, as the migrations in migrations/ produce it.
--
-- Generated, do not edit: SchemaTests (Tests/PyFlareStoreTests/SchemaTests.swift) migrates a
-- fresh index.db, dumps sqlite_master in this form and fails when this file differs (printing
-- the expected text). To change the schema, add a migration (migrations/README.md), then
-- regenerate this file with
--
--     PYFLARE_WRITE_SCHEMA=1 swift test --filter SchemaTests
--
-- and review the diff.

CREATE INDEX segments_by_kind_time ON segments (kind, min_time_ns, max_time_ns);

CREATE INDEX segments_by_time ON segments (min_time_ns, max_time_ns);

CREATE INDEX trace_index_by_segment ON trace_index (segment_id);

CREATE INDEX traces_by_start ON traces (start_ns DESC, trace_id DESC);

CREATE TABLE metric_names (
    name           TEXT    PRIMARY KEY,
    type           TEXT    NOT NULL,            -- gauge, sum, histogram, exponential_histogram, summary
    unit           TEXT    NOT NULL,
    description    TEXT    NOT NULL,
    temporality    TEXT,                        -- delta, cumulative; NULL for gauges and summaries
    monotonic      INTEGER NOT NULL,            -- 1 for monotonic sums
    point_count    INTEGER NOT NULL,
    first_time_ns  INTEGER NOT NULL,
    last_time_ns   INTEGER NOT NULL,
    services       TEXT    NOT NULL             -- sorted, separated by char(31)
) WITHOUT ROWID;

CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at_ns INTEGER NOT NULL) WITHOUT ROWID;

CREATE TABLE segments (
    id              INTEGER PRIMARY KEY,
    path            TEXT    NOT NULL UNIQUE,   -- relative to the data directory
    format_version  INTEGER NOT NULL,
    rows            INTEGER NOT NULL,
    blocks          INTEGER NOT NULL,
    bytes_raw       INTEGER NOT NULL,          -- column data before compression
    bytes_on_disk   INTEGER NOT NULL,
    min_time_ns     INTEGER NOT NULL,          -- span start times
    max_time_ns     INTEGER NOT NULL,
    services        TEXT    NOT NULL,          -- JSON array, sorted
    models          TEXT    NOT NULL,          -- JSON array, sorted
    first_wal_lsn   INTEGER NOT NULL,          -- WAL records sealed into this segment
    last_wal_lsn    INTEGER NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'missing', 'quarantined')),
    created_at_ns   INTEGER NOT NULL
, kind TEXT NOT NULL DEFAULT 'spans'
    CHECK (kind IN ('spans', 'logs', 'metric_points')));

CREATE TABLE store_state (
    key    TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE trace_index (
    trace_id    BLOB    NOT NULL,              -- 16 bytes
    segment_id  INTEGER NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
    block       INTEGER NOT NULL,
    PRIMARY KEY (trace_id, segment_id, block)
) WITHOUT ROWID;

CREATE TABLE traces (
    trace_id           BLOB    PRIMARY KEY,    -- 16 bytes
    root_service       TEXT,                   -- of the span without parent, once seen
    root_name          TEXT,
    start_ns           INTEGER NOT NULL,       -- earliest span start
    end_ns             INTEGER NOT NULL,       -- latest span end
    span_count         INTEGER NOT NULL,
    error_count        INTEGER NOT NULL,
    input_tokens       INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    total_tokens       INTEGER NOT NULL,
    cost_micros        INTEGER,                -- NULL while no span of the trace has a cost
    unpriced_count     INTEGER NOT NULL,       -- spans with tokens and no known price
    services           TEXT    NOT NULL,       -- sorted, separated by char(31) (unit separator)
    models             TEXT    NOT NULL,       -- sorted, separated by char(31) (unit separator)
    user_id            TEXT,
    session_id         TEXT
);

