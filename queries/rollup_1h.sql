-- The minute rollups merged per hour.
-- schedule: every 1m
-- output: rollup_1h
-- window: 1h
-- source: rollup_1m
SELECT
    bucket_ns - bucket_ns % :window_ns AS bucket_ns,
    service, model, provider, operation, environment, feature, status,
    sum_saturating(requests) AS requests,
    sum_saturating(errors) AS errors,
    sum_saturating(input_tokens) AS input_tokens,
    sum_saturating(output_tokens) AS output_tokens,
    sum_saturating(cached_tokens) AS cached_tokens,
    sum_saturating(cache_write_tokens) AS cache_write_tokens,
    sum_saturating(reasoning_tokens) AS reasoning_tokens,
    sum_saturating(cost_micros) AS cost_micros,
    sum_saturating(priced_requests) AS priced_requests,
    sum_saturating(unpriced_requests) AS unpriced_requests,
    sum_saturating(duration_sum_ns) AS duration_sum_ns,
    sketch_merge(latency_sketch) AS latency_sketch
FROM rollup_1m
WHERE bucket_ns >= :window_start_ns AND bucket_ns < :window_end_ns
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
