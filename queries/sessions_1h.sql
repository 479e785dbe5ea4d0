-- Sessions (session.id and the conventions normalization maps to it) per hour: turns (the
-- traces with a span naming the session, whether or not their root does), spans, LLM calls, errors, tokens, cost and the first and last span
-- start, for GET /api/v1/sessions and /api/v1/users.
-- schedule: every 1m
-- output: sessions_1h
-- window: 1h
-- source: spans
SELECT
    start_time_ns - start_time_ns % :window_ns AS bucket_ns,
    session_id,
    coalesce(max(user_id), '') AS user_id,
    count(DISTINCT trace_id) AS turns,
    count(*) AS spans,
    sum_saturating(model IS NOT NULL) AS llm_calls,
    sum_saturating(status = 'error') AS errors,
    coalesce(sum_saturating(input_tokens), 0) AS input_tokens,
    coalesce(sum_saturating(output_tokens), 0) AS output_tokens,
    coalesce(sum_saturating(cost_micros), 0) AS cost_micros,
    sum_saturating(cost_micros IS NULL AND coalesce(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens) IS NOT NULL) AS unpriced_calls,
    min(start_time_ns) AS first_ns,
    max(start_time_ns) AS last_ns
FROM spans
WHERE start_time_ns >= :window_start_ns AND start_time_ns < :window_end_ns AND session_id IS NOT NULL
GROUP BY 1, 2
