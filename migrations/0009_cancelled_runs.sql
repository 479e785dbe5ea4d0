-- A job run stopped by shutdown is recorded as cancelled, not as an error. SQLite cannot
-- change a CHECK constraint in place, so the table is rebuilt with the same rows.
CREATE TABLE job_runs_new (
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
INSERT INTO job_runs_new SELECT id, job, trigger, status, started_ns, finished_ns, rows_written, window_start_ns, window_end_ns, error FROM job_runs;
DROP TABLE job_runs;
ALTER TABLE job_runs_new RENAME TO job_runs;
CREATE INDEX job_runs_by_job ON job_runs (job, id);
