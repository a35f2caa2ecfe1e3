-- The broker's durable state: service instances, their bindings and the operations that change them.
-- Enum columns hold the domain's `as_str()` texts; the CHECKs keep anything else out.
-- JSON is stored as TEXT, timestamps as INTEGER unix milliseconds.

CREATE TABLE instances (
    id                  TEXT    PRIMARY KEY NOT NULL,
    service_id          TEXT    NOT NULL,
    plan_id             TEXT    NOT NULL,
    parameters          TEXT    NOT NULL,
    context             TEXT    NOT NULL,
    organization_guid   TEXT,
    space_guid          TEXT,
    maintenance_version TEXT,
    state               TEXT    NOT NULL
        CHECK (state IN ('provisioning', 'ready', 'failed', 'deprovisioning')),
    dashboard_url       TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
) STRICT;

CREATE TABLE bindings (
    instance_id   TEXT    NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    binding_id    TEXT    NOT NULL,
    service_id    TEXT    NOT NULL,
    plan_id       TEXT    NOT NULL,
    parameters    TEXT    NOT NULL,
    context       TEXT    NOT NULL,
    bind_resource TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('binding', 'ready', 'failed', 'unbinding')),
    password      TEXT    NOT NULL,
    credentials   TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (instance_id, binding_id)
) STRICT;

-- Not foreign-keyed to instances: an operation outlives the instance it deleted, so that
-- last_operation can still answer for it.
CREATE TABLE operations (
    -- Insertion order: breaks ties between operations created in the same millisecond.
    seq                  INTEGER PRIMARY KEY AUTOINCREMENT,
    id                   TEXT    NOT NULL UNIQUE,
    kind                 TEXT    NOT NULL
        CHECK (kind IN ('provision', 'update', 'deprovision', 'bind', 'unbind')),
    origin               TEXT    NOT NULL CHECK (origin IN ('platform', 'orphan_mitigation')),
    instance_id          TEXT    NOT NULL,
    binding_id           TEXT,
    state                TEXT    NOT NULL CHECK (state IN ('in progress', 'succeeded', 'failed')),
    description          TEXT,
    target               TEXT,
    originating_identity TEXT,
    attempts             INTEGER NOT NULL CHECK (attempts >= 0),
    failures             INTEGER NOT NULL CHECK (failures >= 0),
    next_attempt_at      INTEGER NOT NULL,
    deadline             INTEGER NOT NULL,
    lease_owner          TEXT,
    -- Fencing token: grows with every claim and survives the lease.
    lease_token          INTEGER NOT NULL DEFAULT 0,
    lease_expires_at     INTEGER,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL))
) STRICT;

-- At most one operation in flight per instance, its bindings included.
CREATE UNIQUE INDEX operations_one_in_flight ON operations (instance_id) WHERE state = 'in progress';
CREATE INDEX operations_due ON operations (state, next_attempt_at);
CREATE INDEX operations_latest ON operations (instance_id, binding_id, created_at, seq);
