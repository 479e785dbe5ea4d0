-- A cost summary with a limit reads the series of its costliest groups only: one value's rows
-- of a month, in bucket order, without reading every other value's.
CREATE INDEX cost_by_dimension_1h_by_key ON cost_by_dimension_1h (dimension, key, bucket_ns);
CREATE INDEX cost_by_dimension_1d_by_key ON cost_by_dimension_1d (dimension, key, bucket_ns);
