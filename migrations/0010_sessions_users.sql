-- Sessions and users per hour, written by the sessions_1h and users_1h jobs: what
-- GET /api/v1/sessions and /api/v1/users sum over a time range. Turns (and a user's requests)
-- are the traces with a span naming the session (user); a session's user is the one its spans
-- name (the greatest, if several), '' if none.
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
CREATE INDEX sessions_1h_by_session ON sessions_1h (session_id, bucket_ns);
CREATE INDEX sessions_1h_by_user ON sessions_1h (user_id, bucket_ns);

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
CREATE INDEX users_1h_by_user ON users_1h (user_id, bucket_ns);
