-- The W3C traceparent of the request that started the operation, so that its engine steps,
-- which run later and maybe on another replica, continue that request's trace. NULL when the
-- request was not traced, and on every operation from before this migration.
ALTER TABLE operations ADD COLUMN trace_parent text;
