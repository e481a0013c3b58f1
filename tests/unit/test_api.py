"""The v1alpha1 models: the wire format, defaults and validation the CLI and the operator share."""

from __future__ import annotations

import pytest
from builders import endpoint, workload
from pydantic import ValidationError

from modelroute.api.v1alpha1 import ApiMode, ClientProfile, EndpointType, ProcurementChannel, RoutePolicy
from modelroute.engine.hosts import AzureCloud


def test_fields_are_camel_case_on_the_wire() -> None:
    wire = endpoint(defaultApiVersion="2024-10-21").to_wire()
    assert wire["spec"]["defaultApiVersion"] == "2024-10-21"
    assert "default_api_version" not in wire["spec"]


def test_azure_endpoint_defaults() -> None:
    spec = endpoint().spec
    assert spec.type is EndpointType.AZURE_OPENAI
    assert spec.cloud is AzureCloud.PUBLIC
    assert spec.allowed_channels == {ProcurementChannel.MICROSOFT, ProcurementChannel.OPENAI}


def test_model_workload_defaults() -> None:
    spec = workload().spec
    assert spec.api_mode is ApiMode.STATELESS
    assert spec.inject.profiles == [ClientProfile.OPENAI, ClientProfile.AZURE_OPENAI]
    assert spec.egress.restrict is False


def test_route_policy_defaults_when_a_policy_exists() -> None:
    spec = RoutePolicy.model_validate({"metadata": {"name": "p"}}).spec
    assert (spec.enforcement, spec.unmanaged, spec.rewrite, spec.stateful_direct) == ("Enforce", "Deny", False, "Allow")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://contoso.openai.azure.com", "https://"),
        ("contoso.openai.azure.com", "https://"),
        ("https://user:pw@contoso.openai.azure.com", "user information"),
        ("https://", "host"),
    ],
)
def test_an_endpoint_url_must_be_a_plain_https_url(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        endpoint(url=url)


def test_egress_cidrs_must_be_networks() -> None:
    with pytest.raises(ValidationError, match="not a CIDR"):
        endpoint(egress={"cidrs": ["10.0.0.0/33"]})


def test_an_openai_type_endpoint_cannot_admit_the_microsoft_channel() -> None:
    with pytest.raises(ValidationError, match="cannot admit the Microsoft channel"):
        endpoint(url="https://api.openai.com", type="OpenAI", channels=["Microsoft"])


def test_a_stateless_workload_needs_an_endpoint() -> None:
    with pytest.raises(ValidationError, match="endpointRef is required"):
        workload(endpoint_name=None)


def test_a_stateful_workload_may_go_without_an_endpoint() -> None:
    assert workload(endpoint_name=None, apiMode="Stateful").spec.endpoint_ref is None


def test_unknown_spec_fields_are_errors_not_silently_dropped() -> None:
    with pytest.raises(ValidationError, match="enpointRef"):
        workload(enpointRef={"name": "x"})


def test_an_unknown_enum_value_is_an_error() -> None:
    with pytest.raises(ValidationError, match=r"procurement\.channel"):
        workload(channel="Reseller")
