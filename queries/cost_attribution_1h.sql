-- Cost of LLM calls (spans with a model) per hour by user, feature and team, for cost
-- summaries and budgets by user, feature and team. The team is the resource attribute
-- `pyflare.team`, else `team`.
-- schedule: every 1m
-- output: cost_attribution_1h
-- window: 1h
-- source: spans
SELECT
    start_time_ns - start_time_ns % :window_ns AS bucket_ns,
    coalesce(user_id, '') AS user_id,
    coalesce(feature, '') AS feature,
    -- The team owning the service: a resource attribute. Span attributes are left out on
    -- purpose: turning every LLM span's attributes (prompts included) into JSON costs ~10x more.
    CASE WHEN instr(resource, 'team":') THEN coalesce(attr(resource, 'pyflare.team'), attr(resource, 'team'), '')
    ELSE '' END AS team,
    count(*) AS requests,
    coalesce(sum_saturating(input_tokens), 0) AS input_tokens,
    coalesce(sum_saturating(output_tokens), 0) AS output_tokens,
    coalesce(sum_saturating(cache_read_tokens), 0) AS cached_tokens,
    coalesce(sum_saturating(reasoning_tokens), 0) AS reasoning_tokens,
    coalesce(sum_saturating(cost_micros), 0) AS cost_micros,
    sum_saturating(cost_micros IS NULL AND coalesce(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens) IS NOT NULL) AS unpriced_requests
FROM spans
WHERE start_time_ns >= :window_start_ns AND start_time_ns < :window_end_ns AND model IS NOT NULL
GROUP BY 1, 2, 3, 4
