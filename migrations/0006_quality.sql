-- Evaluations and drift (docs/quality.md).

-- One row per evaluation result of a span: read from the telemetry (a `gen_ai.evaluation.result`
-- span event or log event, `pyflare.quality.*` span attributes), posted as an annotation
-- (`POST /v1/span_annotations`), or computed by PyFlare's own evaluators (RAG, LLM judge).
-- The extraction jobs replace their sources' rows by time range; annotations are kept as posted.
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
);
CREATE INDEX evaluations_by_time ON evaluations (time_ns);
CREATE INDEX evaluations_by_name ON evaluations (name, time_ns);
CREATE INDEX evaluations_by_span ON evaluations (span_id);
CREATE INDEX evaluations_by_trace ON evaluations (trace_id);
CREATE INDEX evaluations_by_source ON evaluations (source, created_ns);

-- Drift scores per scope, feature and window; the drift job replaces the windows it computes.
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
CREATE INDEX drift_scores_by_window ON drift_scores (window_start_ns);

-- Reference windows pinned through the API (`PUT /api/v1/drift/references`); they take
-- precedence over the configured rolling reference of their scope.
CREATE TABLE drift_references (
    scope_kind      TEXT    NOT NULL,
    scope           TEXT    NOT NULL,
    start_ns        INTEGER NOT NULL,
    end_ns          INTEGER NOT NULL,
    created_ns      INTEGER NOT NULL,
    PRIMARY KEY (scope_kind, scope)
);
