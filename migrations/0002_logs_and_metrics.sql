-- Log records and metric points are kept in segments of their own kinds.

-- What a segment holds; files written before this migration hold spans. For metric
-- segments, `models` lists the metric names (the footer's second string zone map).
ALTER TABLE segments ADD COLUMN kind TEXT NOT NULL DEFAULT 'spans'
    CHECK (kind IN ('spans', 'logs', 'metric_points'));
CREATE INDEX segments_by_kind_time ON segments (kind, min_time_ns, max_time_ns);

-- trace_index now also points at log segments (records with a trace id) and metric
-- segments (exemplars with a trace id): one lookup finds a trace's spans, logs and
-- linked metric points.

-- Every metric name seen, with its latest description: GET /api/v1/metrics.
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
