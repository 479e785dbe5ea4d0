-- Cost of LLM calls per hour by one dimension at a time: model, provider, service and
-- environment from the hourly rollups, user, feature and team from the cost attribution.
-- Summaries and budgets read this instead of every combination of the rollups.
-- schedule: every 1m
-- output: cost_by_dimension_1h
-- window: 1h
-- source: rollup_1h, cost_attribution_1h
WITH rollup_dimensions (dimension) AS (VALUES ('model'), ('provider'), ('service'), ('environment')),
     attribution_dimensions (dimension) AS (VALUES ('user'), ('feature'), ('team'))
SELECT
    bucket_ns, dimension,
    CASE dimension WHEN 'model' THEN model WHEN 'provider' THEN provider WHEN 'service' THEN service ELSE environment END AS key,
    sum_saturating(requests) AS requests,
    sum_saturating(input_tokens) AS input_tokens,
    sum_saturating(output_tokens) AS output_tokens,
    sum_saturating(cached_tokens) AS cached_tokens,
    sum_saturating(reasoning_tokens) AS reasoning_tokens,
    sum_saturating(cost_micros) AS cost_micros,
    sum_saturating(unpriced_requests) AS unpriced_requests
FROM rollup_1h, rollup_dimensions
WHERE bucket_ns >= :window_start_ns AND bucket_ns < :window_end_ns AND model != ''
GROUP BY 1, 2, 3
UNION ALL
SELECT
    bucket_ns, dimension,
    CASE dimension WHEN 'user' THEN user_id WHEN 'feature' THEN feature ELSE team END AS key,
    sum_saturating(requests), sum_saturating(input_tokens), sum_saturating(output_tokens), sum_saturating(cached_tokens), sum_saturating(reasoning_tokens),
    sum_saturating(cost_micros), sum_saturating(unpriced_requests)
FROM cost_attribution_1h, attribution_dimensions
WHERE bucket_ns >= :window_start_ns AND bucket_ns < :window_end_ns
GROUP BY 1, 2, 3
