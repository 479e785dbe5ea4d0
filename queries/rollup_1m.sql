-- Spans per minute by service, model, provider, operation, environment, feature and status.
-- schedule: every 1m
-- output: rollup_1m
-- window: 1m
-- source: spans
SELECT
    start_time_ns - start_time_ns % :window_ns AS bucket_ns,
    coalesce(service, '') AS service,
    coalesce(model, '') AS model,
    coalesce(provider, '') AS provider,
    coalesce(operation, '') AS operation,
    coalesce(environment, '') AS environment,
    coalesce(feature, '') AS feature,
    status,
    count(*) AS requests,
    sum_saturating(status = 'error') AS errors,
    coalesce(sum_saturating(input_tokens), 0) AS input_tokens,
    coalesce(sum_saturating(output_tokens), 0) AS output_tokens,
    coalesce(sum_saturating(cache_read_tokens), 0) AS cached_tokens,
    coalesce(sum_saturating(cache_write_tokens), 0) AS cache_write_tokens,
    coalesce(sum_saturating(reasoning_tokens), 0) AS reasoning_tokens,
    coalesce(sum_saturating(cost_micros), 0) AS cost_micros,
    count(cost_micros) AS priced_requests,
    sum_saturating(cost_micros IS NULL AND coalesce(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens) IS NOT NULL) AS unpriced_requests,
    coalesce(sum_saturating(duration_ns), 0) AS duration_sum_ns,
    latency_sketch(duration_ns) AS latency_sketch
FROM spans
WHERE start_time_ns >= :window_start_ns AND start_time_ns < :window_end_ns
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
