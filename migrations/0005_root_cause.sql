-- Root-cause analysis: failure clusters, slices and patterns (docs/rca.md).

-- The message templates failures are clustered by, kept across runs so that a cluster's id
-- (its template's) stays stable. `words` holds the template's words separated by char(31),
-- '' for a variable part; a template that generalized into an older one has `merged_into`.
CREATE TABLE failure_templates (
    id              INTEGER PRIMARY KEY,
    words           TEXT    NOT NULL,
    merged_into     INTEGER,
    created_ns      INTEGER NOT NULL
);

-- One row per failure: an error span (its exception event, else its status message) or a
-- log record of severity ERROR or above. The clustering job replaces rows by time range.
CREATE TABLE failure_cluster_members (
    time_ns         INTEGER NOT NULL,
    cluster_id      INTEGER NOT NULL,
    source          TEXT    NOT NULL,   -- 'span' or 'log'
    trace_id        TEXT,
    span_id         TEXT,
    service         TEXT    NOT NULL,
    model           TEXT,
    operation       TEXT,
    user_id         TEXT,
    error_type      TEXT,
    message         TEXT    NOT NULL,
    stack_line      TEXT
);
CREATE INDEX failure_cluster_members_by_time ON failure_cluster_members (time_ns);
CREATE INDEX failure_cluster_members_by_cluster ON failure_cluster_members (cluster_id, time_ns);

-- The slices of the last analysis (the job replaces them all): one row per slice and metric.
CREATE TABLE rca_slices (
    analyzed_ns     INTEGER NOT NULL,
    window_start_ns INTEGER NOT NULL,
    window_end_ns   INTEGER NOT NULL,
    metric          TEXT    NOT NULL,
    dimensions      TEXT    NOT NULL,   -- the slice's dimension names, sorted, separated by ','
    definition      TEXT    NOT NULL,   -- JSON object: dimension -> value
    sample_count    INTEGER NOT NULL,
    metric_value    REAL    NOT NULL,
    baseline_value  REAL    NOT NULL,
    deviation       REAL    NOT NULL,
    deviation_pct   REAL,
    p_value         REAL    NOT NULL,
    q_value         REAL    NOT NULL,
    significant     INTEGER NOT NULL,
    impact_score    REAL    NOT NULL
);
CREATE INDEX rca_slices_by_metric ON rca_slices (metric, impact_score);

-- Patterns found by the pattern job; a pattern keeps its id (and row) while it lasts.
CREATE TABLE rca_patterns (
    id                  TEXT    PRIMARY KEY,
    type                TEXT    NOT NULL,
    scope               TEXT    NOT NULL,   -- JSON object: service, model, user, feature …
    service             TEXT,
    model               TEXT,
    start_ns            INTEGER NOT NULL,
    end_ns              INTEGER,            -- NULL while ongoing
    severity            REAL    NOT NULL,
    description         TEXT    NOT NULL,
    evidence            TEXT    NOT NULL,   -- JSON
    suggested_actions   TEXT    NOT NULL,   -- JSON array of strings
    first_detected_ns   INTEGER NOT NULL,
    last_detected_ns    INTEGER NOT NULL
);
CREATE INDEX rca_patterns_by_start ON rca_patterns (start_ns);
