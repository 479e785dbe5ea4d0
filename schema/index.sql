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

CREATE INDEX alert_deliveries_by_event ON alert_deliveries (event_id);

CREATE INDEX alert_deliveries_pending ON alert_deliveries (status, next_attempt_ns);

CREATE INDEX alert_events_by_time ON alert_events (fired_ns);

CREATE UNIQUE INDEX alert_events_open ON alert_events (rule_id, key) WHERE resolved_ns IS NULL;

CREATE INDEX cost_attribution_by_user ON cost_attribution_1h (user_id, bucket_ns);

CREATE INDEX cost_by_dimension_1d_by_bucket ON cost_by_dimension_1d (bucket_ns);

CREATE INDEX cost_by_dimension_1d_by_key ON cost_by_dimension_1d (dimension, key, bucket_ns, requests, input_tokens,
    output_tokens, cached_tokens, reasoning_tokens, cost_micros, unpriced_requests);

CREATE INDEX cost_by_dimension_1h_by_bucket ON cost_by_dimension_1h (bucket_ns);

CREATE INDEX cost_by_dimension_1h_by_key ON cost_by_dimension_1h (dimension, key, bucket_ns, requests, input_tokens,
    output_tokens, cached_tokens, reasoning_tokens, cost_micros, unpriced_requests);

CREATE INDEX drift_scores_by_window ON drift_scores (window_start_ns);

CREATE INDEX evaluations_by_name ON evaluations (name, time_ns);

CREATE INDEX evaluations_by_source ON evaluations (source, created_ns);

CREATE INDEX evaluations_by_span ON evaluations (span_id);

CREATE INDEX evaluations_by_time ON evaluations (time_ns);

CREATE INDEX evaluations_by_trace ON evaluations (trace_id);

CREATE INDEX failure_cluster_members_by_cluster ON failure_cluster_members (cluster_id, time_ns);

CREATE INDEX failure_cluster_members_by_time ON failure_cluster_members (time_ns);

CREATE INDEX job_runs_by_job ON job_runs (job, id);

CREATE INDEX rca_patterns_by_start ON rca_patterns (start_ns);

CREATE INDEX rca_slices_by_metric ON rca_slices (metric, impact_score);

CREATE INDEX segments_by_kind_time ON segments (kind, min_time_ns, max_time_ns);

CREATE INDEX segments_by_seal ON segments (seal_id);

CREATE INDEX segments_by_time ON segments (min_time_ns, max_time_ns);

CREATE INDEX sessions_1h_by_session ON sessions_1h (session_id, bucket_ns);

CREATE INDEX sessions_1h_by_user ON sessions_1h (user_id, bucket_ns);

CREATE INDEX trace_index_by_segment ON trace_index (segment_id);

CREATE INDEX traces_by_start ON traces (start_ns DESC, trace_id DESC);

CREATE INDEX users_1h_by_user ON users_1h (user_id, bucket_ns);

CREATE TABLE "alert_deliveries" (
    id              INTEGER PRIMARY KEY,
    event_id        INTEGER NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('firing', 'escalated', 'resolved')),
    channel_type    TEXT    NOT NULL,
    target          TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'silenced')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ns INTEGER,
    last_error      TEXT,
    delivered_ns    INTEGER
);

CREATE TABLE alert_events (
    id              INTEGER PRIMARY KEY,
    rule_id         INTEGER NOT NULL,
    key             TEXT    NOT NULL,       -- '' for a metric rule, the pattern id for a pattern rule
    fired_ns        INTEGER NOT NULL,
    resolved_ns     INTEGER,
    value           REAL,                   -- the measure (or severity) when it fired, then the latest
    threshold       REAL,
    summary         TEXT    NOT NULL,
    link            TEXT    NOT NULL,       -- the UI view that shows it, relative to alerts.public_url
    silenced        INTEGER NOT NULL DEFAULT 0
, notified_value REAL);

CREATE TABLE "alert_rules" (
    id                  INTEGER PRIMARY KEY,
    name                TEXT    NOT NULL,
    kind                TEXT    NOT NULL CHECK (kind IN ('metric', 'pattern', 'drift', 'budget')),
    -- metric rules: the measure over the last window_ns of rollup_1m, compared with threshold;
    -- drift rules: scores of windows that started within the last window_ns
    metric              TEXT,               -- error_rate, p95_latency_ms, cost_per_hour, unpriced_calls, requests
    window_ns           INTEGER,
    operator            TEXT,               -- >, >=, <, <=
    threshold           REAL,               -- budget rules: the fraction of the limit spent
    min_requests        INTEGER,            -- error_rate and p95 only: fewer requests never fire
    filter              TEXT    NOT NULL,   -- JSON object: metric dimensions; drift: feature, scope; budget: budget
    -- pattern rules: an ongoing rca_patterns row of these types (all when empty) and severity;
    -- drift rules: the severities that fire (moderate, significant)
    pattern_types       TEXT    NOT NULL,   -- JSON array
    min_severity        REAL,
    channels            TEXT    NOT NULL,   -- JSON array of {"type": "webhook"|"slack"|"email", "url": …}
    enabled             INTEGER NOT NULL DEFAULT 1,
    silenced_until_ns   INTEGER,            -- notifications held back until then
    created_ns          INTEGER NOT NULL,
    updated_ns          INTEGER NOT NULL
);

CREATE TABLE budget_alerts (
    id                INTEGER PRIMARY KEY,
    budget_id         INTEGER NOT NULL REFERENCES budgets (id) ON DELETE CASCADE,
    period_start_ns   INTEGER NOT NULL,
    threshold         REAL    NOT NULL,
    spent_micros      INTEGER NOT NULL,
    limit_micros      INTEGER NOT NULL,
    fired_at_ns       INTEGER NOT NULL,
    webhook_status    TEXT    NOT NULL CHECK (webhook_status IN ('none', 'pending', 'delivered', 'failed')),
    webhook_attempts  INTEGER NOT NULL DEFAULT 0,
    UNIQUE (budget_id, period_start_ns, threshold)
);

CREATE TABLE budgets (
    id                INTEGER PRIMARY KEY,
    dimension         TEXT    NOT NULL CHECK (dimension IN ('global', 'user', 'model', 'feature', 'team', 'environment')),
    value             TEXT,
    period            TEXT    NOT NULL CHECK (period IN ('hourly', 'daily', 'weekly', 'monthly')),
    limit_micros      INTEGER NOT NULL CHECK (limit_micros > 0),
    alert_thresholds  TEXT    NOT NULL,           -- JSON array of fractions of the limit, ascending
    created_at_ns     INTEGER NOT NULL
);

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

CREATE TABLE cost_attribution_1h (
    bucket_ns           INTEGER NOT NULL,
    user_id             TEXT    NOT NULL,
    feature             TEXT    NOT NULL,
    team                TEXT    NOT NULL,
    requests            INTEGER NOT NULL,
    input_tokens        INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    cached_tokens       INTEGER NOT NULL,
    reasoning_tokens    INTEGER NOT NULL,
    cost_micros         INTEGER NOT NULL,
    unpriced_requests   INTEGER NOT NULL,
    PRIMARY KEY (bucket_ns, user_id, feature, team)
) WITHOUT ROWID;

CREATE TABLE cost_by_dimension_1d (
    bucket_ns           INTEGER NOT NULL,
    dimension           TEXT    NOT NULL,
    key                 TEXT    NOT NULL,
    requests            INTEGER NOT NULL,
    input_tokens        INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    cached_tokens       INTEGER NOT NULL,
    reasoning_tokens    INTEGER NOT NULL,
    cost_micros         INTEGER NOT NULL,
    unpriced_requests   INTEGER NOT NULL,
    PRIMARY KEY (dimension, bucket_ns, key)
) WITHOUT ROWID;

CREATE TABLE cost_by_dimension_1h (
    bucket_ns           INTEGER NOT NULL,
    dimension           TEXT    NOT NULL,
    key                 TEXT    NOT NULL,
    requests            INTEGER NOT NULL,
    input_tokens        INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    cached_tokens       INTEGER NOT NULL,
    reasoning_tokens    INTEGER NOT NULL,
    cost_micros         INTEGER NOT NULL,
    unpriced_requests   INTEGER NOT NULL,
    PRIMARY KEY (dimension, bucket_ns, key)
) WITHOUT ROWID;

CREATE TABLE drift_references (
    scope_kind      TEXT    NOT NULL,
    scope           TEXT    NOT NULL,
    start_ns        INTEGER NOT NULL,
    end_ns          INTEGER NOT NULL,
    created_ns      INTEGER NOT NULL,
    PRIMARY KEY (scope_kind, scope)
);

CREATE TABLE drift_scores (
    scope_kind          TEXT    NOT NULL,   -- 'model' or 'service'
    scope               TEXT    NOT NULL,
    feature             TEXT    NOT NULL,   -- 'input_tokens', 'model', 'embedding', an attribute key …
    method              TEXT    NOT NULL,   -- 'psi' or 'mmd'
    window_start_ns     INTEGER NOT NULL,
    window_end_ns       INTEGER NOT NULL,
    reference_start_ns  INTEGER NOT NULL,
    reference_end_ns    INTEGER NOT NULL,
    score               REAL    NOT NULL,
    p_value             REAL,
    severity            TEXT    NOT NULL,   -- 'none', 'moderate', 'significant'
    samples             INTEGER NOT NULL,
    reference_samples   INTEGER NOT NULL,
    details             TEXT    NOT NULL,   -- JSON: bins and shares (PSI); bandwidth, centroid shift (MMD)
    computed_ns         INTEGER NOT NULL,
    PRIMARY KEY (scope_kind, scope, feature, window_start_ns)
);

CREATE TABLE evaluations (
    id              INTEGER PRIMARY KEY,
    time_ns         INTEGER NOT NULL,
    name            TEXT    NOT NULL,
    source          TEXT    NOT NULL,   -- 'event', 'log', 'attribute', 'annotation', 'rag', 'judge'
    evaluator       TEXT,               -- who judged: an annotator kind, the judge model, 'pyflare.rag'
    trace_id        TEXT,
    span_id         TEXT,
    service         TEXT,
    model           TEXT,
    operation       TEXT,
    score           REAL,
    label           TEXT,
    explanation     TEXT,
    passed          INTEGER,            -- 1 good, 0 bad, NULL when neither label nor score says
    details         TEXT,               -- JSON: RAG issues and claims, judge flags
    cost_micros     INTEGER NOT NULL DEFAULT 0,  -- what producing it cost (judge calls)
    created_ns      INTEGER NOT NULL             -- when PyFlare recorded it
, feature TEXT);

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

CREATE TABLE failure_templates (
    id              INTEGER PRIMARY KEY,
    words           TEXT    NOT NULL,
    merged_into     INTEGER,
    created_ns      INTEGER NOT NULL
);

CREATE TABLE "job_runs" (
    id               INTEGER PRIMARY KEY,
    job              TEXT    NOT NULL,
    trigger          TEXT    NOT NULL CHECK (trigger IN ('schedule', 'api', 'command')),
    status           TEXT    NOT NULL CHECK (status IN ('running', 'ok', 'error', 'cancelled')),
    started_ns       INTEGER NOT NULL,
    finished_ns      INTEGER,
    rows_written     INTEGER,
    window_start_ns  INTEGER,                    -- the output range the run replaced
    window_end_ns    INTEGER,
    error            TEXT
);

CREATE TABLE jobs (
    name              TEXT    PRIMARY KEY,
    kind              TEXT    NOT NULL CHECK (kind IN ('sql', 'swift')),
    source            TEXT    NOT NULL,          -- the .sql file, or 'built-in' for Swift jobs
    schedule          TEXT    NOT NULL,
    output_table      TEXT,
    -- Where the last successful run left off: ingest time it ran at, and the highest
    -- input it had seen (a segment id, or a run id of the job it reads from).
    watermark_ns      INTEGER,
    input_position    INTEGER NOT NULL DEFAULT 0,
    -- A run in progress, by any process (the server or `pyflare jobs run`).
    running_since_ns  INTEGER,
    running_owner     TEXT,
    updated_at_ns     INTEGER NOT NULL
) WITHOUT ROWID;

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

CREATE TABLE pricing_overrides (
    model          TEXT    PRIMARY KEY,
    provider       TEXT,
    input          REAL    NOT NULL,
    output         REAL    NOT NULL,
    cache_read     REAL,
    cache_write    REAL,
    updated_at_ns  INTEGER NOT NULL
) WITHOUT ROWID;

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

CREATE TABLE retention_policy (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    policy      TEXT    NOT NULL,          -- JSON, as GET /api/v1/retention shows it
    updated_ns  INTEGER NOT NULL
);

CREATE TABLE rollup_1d (
    bucket_ns           INTEGER NOT NULL,
    service             TEXT    NOT NULL,
    model               TEXT    NOT NULL,
    provider            TEXT    NOT NULL,
    operation           TEXT    NOT NULL,
    environment         TEXT    NOT NULL,
    feature             TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    requests            INTEGER NOT NULL,
    errors              INTEGER NOT NULL,
    input_tokens        INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    cached_tokens       INTEGER NOT NULL,
    cache_write_tokens  INTEGER NOT NULL,
    reasoning_tokens    INTEGER NOT NULL,
    cost_micros         INTEGER NOT NULL,
    priced_requests     INTEGER NOT NULL,
    unpriced_requests   INTEGER NOT NULL,
    duration_sum_ns     INTEGER NOT NULL,
    latency_sketch      BLOB    NOT NULL,
    PRIMARY KEY (bucket_ns, service, model, provider, operation, environment, feature, status)
) WITHOUT ROWID;

CREATE TABLE rollup_1h (
    bucket_ns           INTEGER NOT NULL,
    service             TEXT    NOT NULL,
    model               TEXT    NOT NULL,
    provider            TEXT    NOT NULL,
    operation           TEXT    NOT NULL,
    environment         TEXT    NOT NULL,
    feature             TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    requests            INTEGER NOT NULL,
    errors              INTEGER NOT NULL,
    input_tokens        INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    cached_tokens       INTEGER NOT NULL,
    cache_write_tokens  INTEGER NOT NULL,
    reasoning_tokens    INTEGER NOT NULL,
    cost_micros         INTEGER NOT NULL,
    priced_requests     INTEGER NOT NULL,
    unpriced_requests   INTEGER NOT NULL,
    duration_sum_ns     INTEGER NOT NULL,
    latency_sketch      BLOB    NOT NULL,
    PRIMARY KEY (bucket_ns, service, model, provider, operation, environment, feature, status)
) WITHOUT ROWID;

CREATE TABLE rollup_1m (
    bucket_ns           INTEGER NOT NULL,
    service             TEXT    NOT NULL,
    model               TEXT    NOT NULL,
    provider            TEXT    NOT NULL,
    operation           TEXT    NOT NULL,
    environment         TEXT    NOT NULL,
    feature             TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    requests            INTEGER NOT NULL,
    errors              INTEGER NOT NULL,
    input_tokens        INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    cached_tokens       INTEGER NOT NULL,
    cache_write_tokens  INTEGER NOT NULL,
    reasoning_tokens    INTEGER NOT NULL,
    cost_micros         INTEGER NOT NULL,
    priced_requests     INTEGER NOT NULL,        -- spans with a cost
    unpriced_requests   INTEGER NOT NULL,        -- spans with tokens and no known price
    duration_sum_ns     INTEGER NOT NULL,
    latency_sketch      BLOB    NOT NULL,
    PRIMARY KEY (bucket_ns, service, model, provider, operation, environment, feature, status)
) WITHOUT ROWID;

CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at_ns INTEGER NOT NULL) WITHOUT ROWID;

CREATE TABLE segment_deletions (
    path          TEXT    PRIMARY KEY,     -- relative to the data directory
    bytes         INTEGER NOT NULL,
    committed_ns  INTEGER NOT NULL
, remote_key TEXT) WITHOUT ROWID;

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
    CHECK (kind IN ('spans', 'logs', 'metric_points')), seal_id INTEGER, expires_ns INTEGER, remote_key TEXT);

CREATE TABLE sessions_1h (
    bucket_ns       INTEGER NOT NULL,
    session_id      TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    turns           INTEGER NOT NULL,
    spans           INTEGER NOT NULL,
    llm_calls       INTEGER NOT NULL,
    errors          INTEGER NOT NULL,
    input_tokens    INTEGER NOT NULL,
    output_tokens   INTEGER NOT NULL,
    cost_micros     INTEGER NOT NULL,
    unpriced_calls  INTEGER NOT NULL,
    first_ns        INTEGER NOT NULL,   -- earliest span start of the session in the hour
    last_ns         INTEGER NOT NULL,   -- latest span start
    PRIMARY KEY (bucket_ns, session_id)
) WITHOUT ROWID;

CREATE TABLE source_offsets (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    "offset" INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
) WITHOUT ROWID;

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
, feature TEXT, environment TEXT);

CREATE TABLE users_1h (
    bucket_ns       INTEGER NOT NULL,
    user_id         TEXT    NOT NULL,
    requests        INTEGER NOT NULL,   -- traces
    spans           INTEGER NOT NULL,
    llm_calls       INTEGER NOT NULL,
    errors          INTEGER NOT NULL,
    input_tokens    INTEGER NOT NULL,
    output_tokens   INTEGER NOT NULL,
    cost_micros     INTEGER NOT NULL,
    unpriced_calls  INTEGER NOT NULL,
    first_ns        INTEGER NOT NULL,
    last_ns         INTEGER NOT NULL,
    PRIMARY KEY (bucket_ns, user_id)
) WITHOUT ROWID;

