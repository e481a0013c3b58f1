"""The mutation a covered pod receives: its clients' endpoint settings, credentials as Secret
references, proxy settings, and (when the policy says rewrite) approved values in place of
non-approved ones. Returns new objects and a JSON Patch; never edits its input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelroute.api.v1alpha1 import EndpointType, ModelWorkload
from modelroute.engine import hosts
from modelroute.engine.aspire import routed_connection_string, routes_to
from modelroute.engine.clients import (
    APPROVED_VALUE,
    DEFAULT_NO_PROXY,
    PROFILES,
    PROPERTY_CARRIERS,
    PROVIDER_SELECTORS,
    Route,
    endpoint_variable,
)
from modelroute.engine.connection_strings import connection_name
from modelroute.engine.context import EndpointState
from modelroute.engine.detection import ContainerFindings
from modelroute.engine.environment import EnvSetting, literal
from modelroute.engine.verdict import JSONPatch


@dataclass(slots=True)
class Mutation:
    spec: dict[str, Any]
    patch: JSONPatch = field(default_factory=list)
    injected: list[str] = field(default_factory=list)
    rewritten: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _desired_settings(workload: ModelWorkload, endpoint: EndpointState) -> dict[str, Any]:
    """Variable name -> env entry (without the name) that the workload's profiles call for."""
    assert endpoint.route is not None
    desired: dict[str, Any] = {}
    credentials = workload.spec.inject.credentials_secret_ref
    for profile in workload.spec.inject.profiles:
        recipe = PROFILES[profile]
        if recipe.azure_only and endpoint.endpoint.spec.type is EndpointType.OPENAI:
            continue
        settings = recipe.settings
        if endpoint.endpoint.spec.type is not EndpointType.OPENAI:
            settings += recipe.azure_settings
        for name in settings:
            value = APPROVED_VALUE[name](endpoint.route)
            if value is not None:
                desired.setdefault(name, {"value": value})
        if credentials is not None:
            for name in recipe.credentials:
                desired.setdefault(
                    name, {"valueFrom": {"secretKeyRef": {"name": credentials.name, "key": credentials.key}}}
                )
    egress = endpoint.endpoint.spec.egress
    if egress is not None and egress.proxy:
        for name in ("HTTPS_PROXY", "https_proxy"):
            desired.setdefault(name, {"value": egress.proxy})
        for name in ("NO_PROXY", "no_proxy"):
            desired.setdefault(name, {"value": DEFAULT_NO_PROXY})
        desired.setdefault("NODE_USE_ENV_PROXY", {"value": "1"})
    return desired


def _is_approved(setting: EnvSetting, endpoint: EndpointState) -> bool:
    """Whether an endpoint setting's every URL already is the endpoint's route."""
    variable = endpoint_variable(setting.name)
    if variable is None or setting.value is None or setting.hidden_refs:
        return False
    value = setting.value.strip()
    if variable.route is Route.AZURE_INSTANCE:
        return endpoint.route is not None and value == endpoint.route.instance_name
    parts = [p.strip() for p in value.split(";") if p.strip()] if variable.route is Route.URL_LIST else [value]
    try:
        return bool(parts) and all(hosts.parse_url(p).host_port == endpoint.host_port for p in parts)
    except hosts.URLError:
        return False


def _needs_pin(setting: EnvSetting, endpoint: EndpointState) -> bool:
    if not setting.volatile or setting.value is None or setting.hidden_refs:
        return False
    if connection_name(setting.name) is not None:
        return endpoint.host_port is not None and routes_to(setting.value, setting.name, endpoint.host_port)
    if endpoint_variable(setting.name) is not None:
        return _is_approved(setting, endpoint)
    return setting.name in PROPERTY_CARRIERS or setting.name in PROVIDER_SELECTORS


def _set_entry(env: list[dict[str, Any]], setting: EnvSetting | None, name: str, entry: dict[str, Any]) -> None:
    new = {"name": name, **entry}
    if setting is not None and setting.field.startswith("env["):
        env[int(setting.field[4:-1])] = new
    else:
        # a later env entry overrides envFrom and earlier entries alike
        env.append(new)


def mutate_pod_spec(
    spec: Mapping[str, Any],
    spec_pointer: str,
    findings: list[ContainerFindings],
    workload: ModelWorkload,
    endpoint: EndpointState,
    rewrite: bool,
) -> Mutation:
    desired = _desired_settings(workload, endpoint)
    writes_connection_strings = any(PROFILES[p].connection_strings for p in workload.spec.inject.profiles)
    wanted = set(workload.spec.inject.containers)
    app_findings = [f for f in findings if f.is_app]
    present = {f.name for f in app_findings}
    mutation = Mutation(spec=dict(spec))
    for missing in sorted(wanted - present):
        mutation.warnings.append(
            f"ModelWorkload {workload.metadata.name} names container {missing!r} in spec.inject.containers, "
            "but this pod has no such container"
        )
    containers = list(spec.get("containers") or ())
    changed = False
    for index, found in enumerate(app_findings):
        if wanted and found.name not in wanted:
            continue
        env = [dict(e) for e in containers[index].get("env") or ()]
        settings = found.env.settings
        for name, entry in desired.items():
            current = settings.get(name)
            if current is None:
                _set_entry(env, None, name, entry)
                mutation.injected.append(f"{found.name}: {name}")
            elif endpoint_variable(name) is not None and rewrite and not _is_approved(current, endpoint):
                _set_entry(env, current, name, entry)
                mutation.rewritten.append(f"{found.name}: {name}")
        if writes_connection_strings and endpoint.route is not None and endpoint.host_port is not None:
            for name, current in settings.items():
                written = routed_connection_string(current, endpoint.host_port, endpoint.route, rewrite)
                if written.warning:
                    mutation.warnings.append(f"container {found.name}: {written.warning}")
                if written.value is not None:
                    _set_entry(env, current, name, {"value": literal(written.value)})
                    (mutation.rewritten if written.rewritten else mutation.injected).append(f"{found.name}: {name}")
        if rewrite:
            for name, current in settings.items():
                if name in desired or name not in APPROVED_VALUE:
                    continue
                approved = APPROVED_VALUE[name](endpoint.route) if endpoint.route else None
                if approved is not None and not _is_approved(current, endpoint):
                    _set_entry(env, current, name, {"value": approved})
                    mutation.rewritten.append(f"{found.name}: {name}")
        for name, current in settings.items():
            # the kubelet re-reads a ConfigMap at every container start, directly or through $(VAR):
            # pin the value that was judged, written so that expansion leaves it as it is
            if _needs_pin(current, endpoint) and current.value is not None:
                _set_entry(env, current, name, {"value": literal(current.value)})
        if env != list(containers[index].get("env") or ()):
            containers[index] = {**containers[index], "env": env}
            mutation.patch.append({"op": "add", "path": f"{spec_pointer}/containers/{index}/env", "value": env})
            changed = True
    if changed:
        mutation.spec["containers"] = containers
    return mutation
