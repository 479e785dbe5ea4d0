-- A trace's feature and environment (the first span that names them), so the trace list
-- filters on them as it does on user and session. Traces sealed before this migration keep
-- NULL: their spans still answer SQL and the cost summary by feature and environment.
ALTER TABLE traces ADD COLUMN feature TEXT;
ALTER TABLE traces ADD COLUMN environment TEXT;
