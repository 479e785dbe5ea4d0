-- Alert rules over what the jobs materialize, what they fired, and each notification of it
-- (docs/alerts.md). Written by the alerts job and the /api/v1/alerts routes (AlertBook).
CREATE TABLE alert_rules (
    id                  INTEGER PRIMARY KEY,
    name                TEXT    NOT NULL,
    kind                TEXT    NOT NULL CHECK (kind IN ('metric', 'pattern')),
    -- metric rules: the measure over the last window_ns of rollup_1m, compared with threshold
    metric              TEXT,               -- error_rate, p95_latency_ms, cost_per_hour, unpriced_calls, requests
    window_ns           INTEGER,
    operator            TEXT,               -- >, >=, <, <=
    threshold           REAL,
    min_requests        INTEGER,            -- error_rate and p95 only: fewer requests never fire
    filter              TEXT    NOT NULL,   -- JSON object: service, model, provider, operation, environment, feature
    -- pattern rules: an ongoing rca_patterns row of these types (all when empty) and severity
    pattern_types       TEXT    NOT NULL,   -- JSON array
    min_severity        REAL,
    channels            TEXT    NOT NULL,   -- JSON array of {"type": "webhook"|"slack", "url": …}
    enabled             INTEGER NOT NULL DEFAULT 1,
    silenced_until_ns   INTEGER,            -- notifications held back until then
    created_ns          INTEGER NOT NULL,
    updated_ns          INTEGER NOT NULL
);

-- One row per firing: open while resolved_ns is NULL (one open event per rule and key).
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
);
CREATE UNIQUE INDEX alert_events_open ON alert_events (rule_id, key) WHERE resolved_ns IS NULL;
CREATE INDEX alert_events_by_time ON alert_events (fired_ns);

-- One notification (a firing or a resolution) to one channel, and how its delivery went.
CREATE TABLE alert_deliveries (
    id              INTEGER PRIMARY KEY,
    event_id        INTEGER NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('firing', 'resolved')),
    channel_type    TEXT    NOT NULL,
    target          TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'silenced')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ns INTEGER,
    last_error      TEXT,
    delivered_ns    INTEGER
);
CREATE INDEX alert_deliveries_by_event ON alert_deliveries (event_id);
CREATE INDEX alert_deliveries_pending ON alert_deliveries (status, next_attempt_ns);
