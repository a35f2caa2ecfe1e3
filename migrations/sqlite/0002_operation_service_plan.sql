-- The service and plan each operation was created for (for an update, the plan before it; the
-- new one is in `target`), so that last_operation can check a poll's service_id and plan_id
-- without reading the instance. Operations written before this migration keep NULL here, and
-- last_operation then skips the check of that field.
ALTER TABLE operations ADD COLUMN service_id TEXT;
ALTER TABLE operations ADD COLUMN plan_id TEXT;
