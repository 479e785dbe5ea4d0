-- Scheduled jobs and what they materialize: rollups, cost attribution, budgets, prices.

-- One row per job the scheduler knows: the built-in queries/*.sql, the user's .sql files
-- and the Swift analyzers. Rows of jobs that no longer exist stay, with their history.
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

CREATE TABLE job_runs (
    id               INTEGER PRIMARY KEY,
    job              TEXT    NOT NULL,
    trigger          TEXT    NOT NULL CHECK (trigger IN ('schedule', 'api', 'command')),
    status           TEXT    NOT NULL CHECK (status IN ('running', 'ok', 'error')),
    started_ns       INTEGER NOT NULL,
    finished_ns      INTEGER,
    rows_written     INTEGER,
    window_start_ns  INTEGER,                    -- the output range the run replaced
    window_end_ns    INTEGER,
    error            TEXT
);
CREATE INDEX job_runs_by_job ON job_runs (job, id);

-- Span rollups per minute, hour and day. Absent dimensions are '' (so they take part in
-- the key); status is ok, error or unset. `latency_sketch` is a mergeable quantile sketch
-- of the span durations (docs/jobs.md), so p50/p95/p99 over any range come from here.
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

-- Cost of LLM calls (spans with a model) per hour by user, feature and team: the
-- dimensions too many-valued for the rollups. Absent values are ''.
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
CREATE INDEX cost_attribution_by_user ON cost_attribution_1h (user_id, bucket_ns);

-- Spending limits. `value` is NULL for the global budget.
CREATE TABLE budgets (
    id                INTEGER PRIMARY KEY,
    dimension         TEXT    NOT NULL CHECK (dimension IN ('global', 'user', 'model', 'feature', 'team', 'environment')),
    value             TEXT,
    period            TEXT    NOT NULL CHECK (period IN ('hourly', 'daily', 'weekly', 'monthly')),
    limit_micros      INTEGER NOT NULL CHECK (limit_micros > 0),
    alert_thresholds  TEXT    NOT NULL,           -- JSON array of fractions of the limit, ascending
    created_at_ns     INTEGER NOT NULL
);

-- A threshold crossed, once per budget, period and threshold.
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

-- Prices set through PUT /api/v1/pricing/{model}; they override the config and the built-in table.
CREATE TABLE pricing_overrides (
    model          TEXT    PRIMARY KEY,
    provider       TEXT,
    input          REAL    NOT NULL,
    output         REAL    NOT NULL,
    cache_read     REAL,
    cache_write    REAL,
    updated_at_ns  INTEGER NOT NULL
) WITHOUT ROWID;
