-- Cost of LLM calls per hour and per day by one dimension at a time, so that a summary or a
-- budget reads one row per bucket and value, however many combinations the rollups hold.

-- dimension: model, provider, service or environment (from rollup_1h), user, feature or
-- team (from cost_attribution_1h); key: its value, '' when absent.
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
-- The scheduler replaces a job's output by time range.
CREATE INDEX cost_by_dimension_1h_by_bucket ON cost_by_dimension_1h (bucket_ns);

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
CREATE INDEX cost_by_dimension_1d_by_bucket ON cost_by_dimension_1d (bucket_ns);
