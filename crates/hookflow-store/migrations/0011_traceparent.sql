-- Traces (README, "Traces"): the W3C `traceparent` a delivery's spans and a run's span continue,
-- kept with them so that a run executed later, on another node or after a restart, joins the
-- trace of the request that started it. Empty when traces were not exported.
ALTER TABLE deliveries ADD COLUMN traceparent TEXT;
ALTER TABLE runs ADD COLUMN traceparent TEXT;
