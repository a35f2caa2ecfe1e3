"""Drives a provision/bind/unbind/deprovision through a client generated, unmodified, from
docs/openapi.json by openapi-python-client. Arguments: base URL, bearer token, service id, plan id."""

import sys
import time

from pgbroker_client import AuthenticatedClient
from pgbroker_client.api.bindings import bind, binding_last_operation, get_binding, unbind
from pgbroker_client.api.catalog import get_catalog
from pgbroker_client.api.instances import (
    deprovision_instance,
    get_instance,
    instance_last_operation,
    provision_instance,
)
from pgbroker_client.models import (
    BindRequest,
    ErrorBody,
    LastOperationState,
    ProvisionRequest,
)

base, token, service, plan = sys.argv[1:5]
V = "2.17"
client = AuthenticatedClient(base_url=base, token=token)


def check(response, status):
    assert response.status_code == status, (response.status_code, response.content)
    return response.parsed


def wait(poll, gone_is_success=False):
    for _ in range(1000):
        response = poll()
        if gone_is_success and response.status_code == 410:
            assert isinstance(response.parsed, ErrorBody), response.parsed
            return
        last = check(response, 200)
        if last.state != LastOperationState.IN_PROGRESS:
            assert last.state == LastOperationState.SUCCEEDED, last
            assert not gone_is_success, "a finished removal must poll as 410 Gone"
            return
        time.sleep(0.02)
    raise AssertionError("operation did not finish")


catalog = check(get_catalog.sync_detailed(client=client, x_broker_api_version=V), 200)
assert [s.id for s in catalog.services] == [service], catalog

instance = "py-instance-1"
accepted = check(
    provision_instance.sync_detailed(
        instance,
        client=client,
        body=ProvisionRequest.from_dict(
            {
                "service_id": service,
                "plan_id": plan,
                "organization_guid": "cluster-py",
                "space_guid": "team-py",
                "context": {"platform": "kubernetes", "namespace": "team-py"},
                "parameters": {"size": "small"},
            }
        ),
        accepts_incomplete=True,
        x_broker_api_version=V,
        x_broker_api_originating_identity="kubernetes eyJ1c2VybmFtZSI6ICJweSJ9",
    ),
    202,
)
wait(
    lambda: instance_last_operation.sync_detailed(
        instance, client=client, operation=accepted.operation, x_broker_api_version=V
    )
)
fetched = check(get_instance.sync_detailed(instance, client=client, x_broker_api_version=V), 200)
assert fetched.plan_id == plan and fetched.context.additional_properties["namespace"] == "team-py"
assert fetched.parameters.additional_properties == {"size": "small"}

binding = "py-binding-1"
accepted = check(
    bind.sync_detailed(
        instance,
        binding,
        client=client,
        body=BindRequest.from_dict({"service_id": service, "plan_id": plan}),
        accepts_incomplete=True,
        x_broker_api_version=V,
    ),
    202,
)
wait(
    lambda: binding_last_operation.sync_detailed(
        instance, binding, client=client, operation=accepted.operation, x_broker_api_version=V
    )
)
bound = check(get_binding.sync_detailed(instance, binding, client=client, x_broker_api_version=V), 200)
credentials = bound.credentials.additional_properties
assert credentials["password"] and credentials["username"], credentials

accepted = check(
    unbind.sync_detailed(
        instance,
        binding,
        client=client,
        service_id=service,
        plan_id=plan,
        accepts_incomplete=True,
        x_broker_api_version=V,
    ),
    202,
)
wait(
    lambda: binding_last_operation.sync_detailed(
        instance, binding, client=client, operation=accepted.operation, x_broker_api_version=V
    ),
    gone_is_success=True,
)
accepted = check(
    deprovision_instance.sync_detailed(
        instance,
        client=client,
        service_id=service,
        plan_id=plan,
        accepts_incomplete=True,
        x_broker_api_version=V,
    ),
    202,
)
wait(
    lambda: instance_last_operation.sync_detailed(
        instance, client=client, operation=accepted.operation, x_broker_api_version=V
    ),
    gone_is_success=True,
)
gone = deprovision_instance.sync_detailed(
    instance, client=client, service_id=service, plan_id=plan, x_broker_api_version=V
)
assert gone.status_code == 410 and isinstance(gone.parsed, ErrorBody), gone
print("lifecycle ok")
