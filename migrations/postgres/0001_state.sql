-- The broker's durable state: service instances, their bindings and the operations that change them.
-- Enum columns hold the domain's `as_str()` texts; the CHECKs keep anything else out.

CREATE TABLE instances (
    id                  text        PRIMARY KEY,
    service_id          text        NOT NULL,
    plan_id             text        NOT NULL,
    parameters          jsonb       NOT NULL,
    context             jsonb       NOT NULL,
    organization_guid   text,
    space_guid          text,
    maintenance_version text,
    state               text        NOT NULL
        CHECK (state IN ('provisioning', 'ready', 'failed', 'deprovisioning')),
    dashboard_url       text,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);

CREATE TABLE bindings (
    instance_id   text        NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    binding_id    text        NOT NULL,
    service_id    text        NOT NULL,
    plan_id       text        NOT NULL,
    parameters    jsonb       NOT NULL,
    context       jsonb       NOT NULL,
    bind_resource jsonb       NOT NULL,
    state         text        NOT NULL CHECK (state IN ('binding', 'ready', 'failed', 'unbinding')),
    password      text        NOT NULL,
    credentials   jsonb,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (instance_id, binding_id)
);

-- Not foreign-keyed to instances: an operation outlives the instance it deleted, so that
-- last_operation can still answer for it.
CREATE TABLE operations (
    id                   uuid        PRIMARY KEY,
    -- Insertion order: breaks ties between operations created in the same millisecond.
    seq                  bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    kind                 text        NOT NULL
        CHECK (kind IN ('provision', 'update', 'deprovision', 'bind', 'unbind')),
    origin               text        NOT NULL CHECK (origin IN ('platform', 'orphan_mitigation')),
    instance_id          text        NOT NULL,
    binding_id           text,
    state                text        NOT NULL CHECK (state IN ('in progress', 'succeeded', 'failed')),
    description          text,
    target               jsonb,
    originating_identity text,
    attempts             bigint      NOT NULL CHECK (attempts >= 0),
    failures             bigint      NOT NULL CHECK (failures >= 0),
    next_attempt_at      timestamptz NOT NULL,
    deadline             timestamptz NOT NULL,
    lease_owner          text,
    -- Fencing token: grows with every claim and survives the lease.
    lease_token          bigint      NOT NULL DEFAULT 0,
    lease_expires_at     timestamptz,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL))
);

-- At most one operation in flight per instance, its bindings included.
CREATE UNIQUE INDEX operations_one_in_flight ON operations (instance_id) WHERE state = 'in progress';
CREATE INDEX operations_due ON operations (state, next_attempt_at);
CREATE INDEX operations_latest ON operations (instance_id, binding_id, created_at, seq);
