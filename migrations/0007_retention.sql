-- Retention and compaction (docs/retention.md).

-- The newest seal whose records a segment holds: its own id for a sealed segment, the
-- highest of its inputs' for a compacted one. Jobs compare it with their input position,
-- so a compaction's output (old records in a new file) is not mistaken for new data.
ALTER TABLE segments ADD COLUMN seal_id INTEGER;
UPDATE segments SET seal_id = id;
CREATE INDEX segments_by_seal ON segments (seal_id);
-- When the first of a segment's rows expires under the retention policy in force, once a
-- compaction has read it; NULL until then (the zone maps decide), reset when the policy changes.
ALTER TABLE segments ADD COLUMN expires_ns INTEGER;

-- Segment files whose index rows a compaction or a retention delete has removed, deleted
-- from disk only after that commit (and after a grace period, so a SQL statement that
-- listed them before the commit can still open them). Recovery deletes what is left here.
CREATE TABLE segment_deletions (
    path          TEXT    PRIMARY KEY,     -- relative to the data directory
    bytes         INTEGER NOT NULL,
    committed_ns  INTEGER NOT NULL
) WITHOUT ROWID;

-- The retention policy set through PUT /api/v1/retention; absent, the configuration's applies.
CREATE TABLE retention_policy (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    policy      TEXT    NOT NULL,          -- JSON, as GET /api/v1/retention shows it
    updated_ns  INTEGER NOT NULL
);

-- One row per compaction run (scheduled, API, command), with what it did.
CREATE TABLE compaction_runs (
    id                  INTEGER PRIMARY KEY,
    trigger             TEXT    NOT NULL CHECK (trigger IN ('schedule', 'api', 'command')),
    dry_run             INTEGER NOT NULL,
    started_ns          INTEGER NOT NULL,
    finished_ns         INTEGER,
    segments_merged     INTEGER NOT NULL DEFAULT 0,   -- inputs of merges
    segments_written    INTEGER NOT NULL DEFAULT 0,   -- outputs of merges and rewrites
    segments_rewritten  INTEGER NOT NULL DEFAULT 0,   -- straddling the cut-off, expired rows dropped
    segments_deleted    INTEGER NOT NULL DEFAULT 0,   -- wholly expired, or over the size cap
    rows_expired        INTEGER NOT NULL DEFAULT 0,
    output_rows_deleted INTEGER NOT NULL DEFAULT 0,   -- rollups and other materialized outputs
    bytes_before        INTEGER NOT NULL DEFAULT 0,   -- on disk, of the segments touched
    bytes_after         INTEGER NOT NULL DEFAULT 0,
    bytes_reclaimed     INTEGER NOT NULL DEFAULT 0,   -- segment files and index pages given back
    report              TEXT,                         -- JSON: each action
    error               TEXT
);
