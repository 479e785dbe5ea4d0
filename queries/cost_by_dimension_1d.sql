-- The hourly cost by dimension merged per day (UTC), for summaries over weeks and months.
-- schedule: every 1m
-- output: cost_by_dimension_1d
-- window: 1d
-- source: cost_by_dimension_1h
SELECT
    bucket_ns - bucket_ns % :window_ns AS bucket_ns, dimension, key,
    sum_saturating(requests) AS requests,
    sum_saturating(input_tokens) AS input_tokens,
    sum_saturating(output_tokens) AS output_tokens,
    sum_saturating(cached_tokens) AS cached_tokens,
    sum_saturating(reasoning_tokens) AS reasoning_tokens,
    sum_saturating(cost_micros) AS cost_micros,
    sum_saturating(unpriced_requests) AS unpriced_requests
FROM cost_by_dimension_1h
WHERE bucket_ns >= :window_start_ns AND bucket_ns < :window_end_ns
GROUP BY 1, 2, 3
