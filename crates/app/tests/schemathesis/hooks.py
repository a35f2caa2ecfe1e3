"""Generators for what the OpenAPI document cannot say, loaded by scripts/schemathesis.

Which service_id/plan_id exist, which plan an instance is on, which request parameters a plan
accepts and what decodes to an originating identity depend on the catalog, on earlier requests and
on base64-of-JSON, none of which JSON Schema can express. Schema-valid (positive) cases get values
that are valid at run time as well, so that they reach the broker's logic instead of a 400;
negative cases are sent as generated, so that rejection is still tested.

Requests about an existing instance or binding send the instance's current plan, as Cloud Foundry
does (also for bindings made before a plan change, see docs/osb.md).
"""

import base64
import json
import threading
import zlib

import schemathesis

SERVICE = "f3f7eb7c-f181-44e2-8a8e-95fc51e94990"
PLANS = ["8918ebda-7ee3-4766-bb57-9e658fcd9689", "762e8e64-fca8-4801-9f9d-7473e25caf62"]
IDENTITY = "schemathesis " + base64.b64encode(json.dumps({"user_id": "st"}).encode()).decode()

# instance_id -> the plan it was provisioned on or last updated to, from the broker's answers.
_current_plan = {}
# id of a DELETE case -> the status it was answered with.
_deletions = {}
_lock = threading.Lock()


def _plan(value):
    """A catalog plan for a generated value: itself when it is one, else one picked by its hash."""
    if value in PLANS:
        return value
    return PLANS[zlib.crc32(str(value).encode()) % len(PLANS)]


def _is_positive(case):
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


def _instance(case):
    return (case.path_parameters or {}).get("instance_id")


def _is_provision(case):
    return case.method.upper() == "PUT" and "service_bindings" not in case.path


@schemathesis.hook
def before_call(context, case, kwargs):
    if not _is_positive(case):
        return
    with _lock:
        known = _current_plan.get(_instance(case))
    query = case.query if case.query is not None else {}
    if "service_id" in query:
        query["service_id"] = SERVICE
    if "plan_id" in query and case.method.upper() == "GET" and "service_bindings" in case.path:
        # Optional on a binding's reads, and which plans a binding answers to (the one it was
        # made under, or its instance's current one) depends on history this hook only partly
        # sees (an instance removed and made again under another plan, a removal still
        # running): sent, it would be a guess. The plans accepted there are tested in Rust
        # (crates/api-osb/tests/osb_plan_change.rs, crates/testkit/tests/plan_change.rs).
        del query["plan_id"]
    if "plan_id" in query:
        if known:
            query["plan_id"] = known
        elif case.method.upper() == "GET":
            # Optional on reads: an instance this run has not seen provisioned (one whose
            # provision failed, say) is asked about without a plan rather than a wrong one.
            del query["plan_id"]
        else:
            query["plan_id"] = _plan(query["plan_id"])
    body = case.body
    if isinstance(body, dict):
        if "service_id" in body:
            body["service_id"] = SERVICE
        if body.get("plan_id") is not None:
            # A provision or plan change chooses its plan; a bind names the instance's.
            chooses = _is_provision(case) or case.method.upper() == "PATCH"
            body["plan_id"] = _plan(body["plan_id"]) if chooses else (known or _plan(body["plan_id"]))
        # The plans' parameter schemas (catalog.yaml) accept an empty object.
        if body.get("parameters") is not None:
            body["parameters"] = {}
    headers = case.headers if case.headers is not None else {}
    for name in list(headers):
        if name.lower() == "x-broker-api-originating-identity":
            headers[name] = IDENTITY


@schemathesis.hook
def after_call(context, case, response):
    if case.method.upper() == "DELETE":
        with _lock:
            _deletions[case.id] = response.status_code
    instance, body = _instance(case), case.body
    if instance is None or not isinstance(body, dict) or response.status_code not in (200, 201, 202):
        return
    if _is_provision(case) or (case.method.upper() == "PATCH" and body.get("plan_id")):
        with _lock:
            _current_plan[instance] = body["plan_id"]


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Widens `use_after_free` (ST301) by what OSB prescribes for an asynchronous removal, and only
    that: "202 Accepted: Service Instance [Binding] deletion is in progress. The Platform MUST
    poll the Service Instance's [Binding's] last operation endpoint" (spec, Deprovisioning and
    Unbinding). Until the removal ends the resource still exists: its poll answers 200 with state
    "in progress" (or "failed": "the Service Instance [Binding] still exists"), and fetching it
    answers 200 (the spec's fetch answers 404 only for what does not exist or is still being
    provisioned). A read of something removed by a DELETE answered 200 (done) still fails the
    run, as does any other failure; that a finished removal is 404/410 is tested in Rust.
    """
    if failure.code != "ST301":
        return True
    with _lock:
        accepted = _deletions.get(getattr(failure, "deleted_case_id", None)) == 202
    if not accepted or case.method.upper() != "GET" or response.status_code != 200:
        return True
    if case.path.endswith("/last_operation"):
        try:
            state = response.json().get("state")
        except ValueError:
            return True
        return state not in ("in progress", "failed")
    return False
