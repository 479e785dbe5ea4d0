-- A cost summary with a limit reads the series of its costliest groups only: one value's rows
-- of a month, in bucket order, without reading every other value's. The figures are part of
-- the index so that those rows are read from it alone, not looked up one by one in the table.
CREATE INDEX cost_by_dimension_1h_by_key ON cost_by_dimension_1h (dimension, key, bucket_ns, requests, input_tokens,
    output_tokens, cached_tokens, reasoning_tokens, cost_micros, unpriced_requests);
CREATE INDEX cost_by_dimension_1d_by_key ON cost_by_dimension_1d (dimension, key, bucket_ns, requests, input_tokens,
    output_tokens, cached_tokens, reasoning_tokens, cost_micros, unpriced_requests);
