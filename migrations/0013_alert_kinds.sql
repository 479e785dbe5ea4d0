-- Alert rules over drift scores and budgets too, and a notice when a firing pattern escalates
-- (docs/alerts.md). SQLite cannot change a CHECK, so both tables are rebuilt with their rows.
CREATE TABLE alert_rules_next (
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
INSERT INTO alert_rules_next SELECT * FROM alert_rules;
DROP TABLE alert_rules;
ALTER TABLE alert_rules_next RENAME TO alert_rules;

-- The value last announced (firing or escalated): a pattern whose severity rises a step past
-- it is announced again.
ALTER TABLE alert_events ADD COLUMN notified_value REAL;
UPDATE alert_events SET notified_value = value;

CREATE TABLE alert_deliveries_next (
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
INSERT INTO alert_deliveries_next SELECT * FROM alert_deliveries;
DROP TABLE alert_deliveries;
ALTER TABLE alert_deliveries_next RENAME TO alert_deliveries;
CREATE INDEX alert_deliveries_by_event ON alert_deliveries (event_id);
CREATE INDEX alert_deliveries_pending ON alert_deliveries (status, next_attempt_ns);
