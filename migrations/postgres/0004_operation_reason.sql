-- Why an operation failed (or why its last step did, while it retries), in the machine-readable
-- vocabulary of pgbroker_domain::Reason (`BackendUnavailable`, `QuotaExceeded`, ...), beside the
-- description a person reads. Operations written before this migration keep NULL.
ALTER TABLE operations ADD COLUMN reason text;
