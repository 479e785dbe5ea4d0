-- The feature (`app.feature` and its equivalents) of the span an evaluation judges, so quality
-- is summarized by feature as well as by model and service. NULL for evaluations recorded
-- before, and for those of spans that name none.
ALTER TABLE evaluations ADD COLUMN feature TEXT;
