-- What a deprovision or unbind does with the data ('delete' or 'retain': the operator's
-- `pgbroker.io/deletion-policy: retain` annotation keeps the databases), stored with the
-- operation so that a step after a restart does what was asked. Every other kind, and every
-- operation from before this migration, is 'delete'.
ALTER TABLE operations ADD COLUMN deletion_policy text NOT NULL DEFAULT 'delete'
    CHECK (deletion_policy IN ('delete', 'retain'));
