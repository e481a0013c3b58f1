"""The policy context, compiled once from the cluster's (or the input files') objects and then used
to judge many pods: endpoints parsed and checked, selectors compiled, policies merged per namespace.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from modelroute.api.annotations import IGNORE_LABEL
from modelroute.api.meta import DNS_LABEL_MAX
from modelroute.api.v1alpha1 import (
    AzureEndpoint,
    EndpointType,
    Enforcement,
    ModelWorkload,
    ProcurementChannel,
    RoutePolicy,
    RoutePolicySpec,
    StatefulDirect,
    UnmanagedAction,
)
from modelroute.engine import hosts
from modelroute.engine.clients import RouteValues
from modelroute.engine.environment import ConfigMapData, ConfigMaps
from modelroute.engine.selectors import LabelPredicate, Labels, compile_selector

ALWAYS_EXCLUDED_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
#: namespaces whose effective policy one context remembers (each name at most DNS_LABEL_MAX characters)
POLICY_MEMO_ENTRIES = 16_384

_AZURE_MODEL_FAMILIES = frozenset(
    {hosts.HostFamily.AZURE_OPENAI, hosts.HostFamily.AZURE_COGNITIVE_SERVICES, hosts.HostFamily.AZURE_AI_FOUNDRY}
)
_AZURE_OPENAI_SUFFIX = ".openai.azure.com"
_EVERY_CHANNEL = frozenset(ProcurementChannel)


@dataclass(frozen=True, slots=True)
class EndpointState:
    """An AzureEndpoint as the engine uses it: parsed, checked, and its client values precomputed."""

    endpoint: AzureEndpoint
    ready: bool
    reason: str
    message: str
    url: hosts.ParsedURL | None
    route: RouteValues | None
    allows_namespace: LabelPredicate
    deployments: frozenset[str]

    @property
    def name(self) -> str:
        return self.endpoint.metadata.name

    @property
    def host_port(self) -> str | None:
        return self.url.host_port if self.url else None

    @property
    def display_host(self) -> str | None:
        """The host as people write it: with the port only when it is not the scheme's default."""
        return self.url.origin.split("://", 1)[1] if self.url else None

    def allows_channel(self, channel: ProcurementChannel) -> bool:
        return channel in self.endpoint.spec.allowed_channels

    @property
    def open_to_every_channel(self) -> bool:
        """Whether any door may use it; `type: OpenAI`, or `channels` naming fewer than all, make it one door's."""
        return self.endpoint.spec.allowed_channels == _EVERY_CHANNEL


def _readiness(endpoint: AzureEndpoint, url: hosts.ParsedURL) -> tuple[bool, str, str]:
    spec = endpoint.spec
    host_class = hosts.classify_host(url.host)
    cloud = str(host_class.cloud) if host_class.cloud else None
    if spec.type is EndpointType.AZURE_OPENAI:
        if host_class.family not in _AZURE_MODEL_FAMILIES:
            return (
                False,
                "HostNotAzure",
                (
                    f"{url.host} is not an Azure OpenAI, Cognitive Services or AI Foundry host "
                    "(e.g. <resource>.openai.azure.com); declare it as type Gateway if it forwards to Azure"
                ),
            )
    elif spec.type is EndpointType.API_MANAGEMENT:
        if host_class.family is not hosts.HostFamily.AZURE_API_MANAGEMENT:
            return False, "HostNotAPIManagement", f"{url.host} is not an Azure API Management host (*.azure-api.net)"
    elif spec.type is EndpointType.OPENAI:
        if host_class.family is not hosts.HostFamily.OPENAI:
            return False, "HostNotOpenAI", f"{url.host} is not an OpenAI-operated host (api.openai.com family)"
        return True, "Approved", f"approved route {url.host_port} (OpenAI channel only)"
    elif host_class.family in (hosts.HostFamily.OPENAI, hosts.HostFamily.AWS_BEDROCK):
        return (
            False,
            "GatewayIsProvider",
            (f"{url.host} is a model provider's own host, not a gateway; declare it with its own type"),
        )
    if spec.type in (EndpointType.AZURE_OPENAI, EndpointType.API_MANAGEMENT) and cloud != str(spec.cloud):
        return False, "CloudMismatch", f"{url.host} belongs to {cloud}, but spec.cloud is {spec.cloud}"
    return True, "Approved", f"approved route {url.host_port}"


def _route_values(endpoint: AzureEndpoint, url: hosts.ParsedURL) -> RouteValues:
    base = url.origin + url.path.rstrip("/")
    if url.path.strip("/"):
        openai_base = base
    elif endpoint.spec.type in (EndpointType.AZURE_OPENAI,):
        openai_base = base + "/openai/v1"
    elif endpoint.spec.type is EndpointType.OPENAI:
        openai_base = base + "/v1"
    else:
        openai_base = base
    instance = None
    if url.host.endswith(_AZURE_OPENAI_SUFFIX) and url.port == 443 and not url.path.strip("/"):
        instance = url.host.removesuffix(_AZURE_OPENAI_SUFFIX)
    return RouteValues(openai_base, base, endpoint.spec.default_api_version, instance)


def endpoint_state(endpoint: AzureEndpoint) -> EndpointState:
    spec = endpoint.spec
    deployments = frozenset(d.name for d in spec.deployments)
    selector = compile_selector(spec.namespace_selector)
    try:
        url = hosts.parse_url(spec.url)
    except hosts.URLError as error:
        return EndpointState(endpoint, False, "InvalidURL", f"spec.url: {error}", None, None, selector, deployments)
    ready, reason, message = _readiness(endpoint, url)
    return EndpointState(endpoint, ready, reason, message, url, _route_values(endpoint, url), selector, deployments)


@dataclass(frozen=True, slots=True)
class CompiledWorkload:
    workload: ModelWorkload
    selects: LabelPredicate

    @property
    def name(self) -> str:
        return self.workload.metadata.name

    @property
    def namespace(self) -> str:
        return self.workload.metadata.namespace or "default"

    @classmethod
    def of(cls, workload: ModelWorkload) -> CompiledWorkload:
        return cls(workload, compile_selector(workload.spec.selector))


def _compiled(workload: ModelWorkload | CompiledWorkload) -> CompiledWorkload:
    return workload if isinstance(workload, CompiledWorkload) else CompiledWorkload.of(workload)


def config_map_data(body: Mapping[str, Any]) -> ConfigMapData:
    """A ConfigMap's data as the engine reads it (every key and value a string); its `binaryData`
    (base64, decoded only where a volume mounts it) rides along for the files, never for env."""
    data = body.get("data") or {}
    binary = body.get("binaryData") or {}
    return ConfigMapData(
        {str(k): str(v) for k, v in data.items()},
        {str(k): str(v) for k, v in binary.items()} if isinstance(binary, Mapping) else None,
    )


def namespace_labels_of(body: Mapping[str, Any]) -> dict[str, str]:
    """A Namespace's labels as the engine reads them."""
    labels = (body.get("metadata") or {}).get("labels") or {}
    return {str(k): str(v) for k, v in labels.items()}


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    """The strictest combination of the RoutePolicies that govern a namespace."""

    enforcement: Enforcement
    unmanaged: UnmanagedAction
    rewrite: bool
    stateful_direct: StatefulDirect
    sources: tuple[str, ...]  # names of the RoutePolicies merged; () for the built-in default


#: With no RoutePolicy at all, ModelRoute still injects and annotates covered pods, and reports
#: every violation as a warning: installing it never breaks a running cluster.
BUILT_IN_POLICY = EffectivePolicy(
    enforcement=Enforcement.WARN,
    unmanaged=UnmanagedAction.WARN,
    rewrite=False,
    stateful_direct=StatefulDirect.ALLOW,
    sources=(),
)

_ENFORCEMENT_RANK = {Enforcement.AUDIT: 0, Enforcement.WARN: 1, Enforcement.ENFORCE: 2}
_UNMANAGED_RANK = {UnmanagedAction.ALLOW: 0, UnmanagedAction.WARN: 1, UnmanagedAction.DENY: 2}


def strictest(policies: Iterable[tuple[str, RoutePolicySpec]]) -> EffectivePolicy | None:
    merged: EffectivePolicy | None = None
    for name, spec in policies:
        if merged is None:
            merged = EffectivePolicy(spec.enforcement, spec.unmanaged, spec.rewrite, spec.stateful_direct, (name,))
            continue
        merged = EffectivePolicy(
            enforcement=max(merged.enforcement, spec.enforcement, key=_ENFORCEMENT_RANK.__getitem__),
            unmanaged=max(merged.unmanaged, spec.unmanaged, key=_UNMANAGED_RANK.__getitem__),
            # rewriting admits what another policy would deny, so it needs every policy's consent
            rewrite=merged.rewrite and spec.rewrite,
            stateful_direct=StatefulDirect.DENY
            if StatefulDirect.DENY in (merged.stateful_direct, spec.stateful_direct)
            else StatefulDirect.ALLOW,
            sources=(*merged.sources, name),
        )
    return merged


@dataclass(frozen=True)
class PolicyContext:
    """Everything the engine needs besides the object being judged. Build with `PolicyContext.build`."""

    endpoints: Mapping[str, EndpointState]
    workloads: Mapping[str, tuple[CompiledWorkload, ...]]  # by namespace
    policies: tuple[tuple[RoutePolicy, LabelPredicate], ...]
    config_maps: ConfigMaps
    namespace_labels: Mapping[str, Labels]
    operator_namespace: str | None = None
    _policy_cache: dict[str, EffectivePolicy | None] = field(default_factory=dict, repr=False, compare=False)
    _hosts_cache: dict[str, tuple[dict[str, EndpointState], dict[str, EndpointState]]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def build(
        cls,
        *,
        endpoints: Iterable[AzureEndpoint] = (),
        workloads: Iterable[ModelWorkload | CompiledWorkload] = (),
        policies: Iterable[RoutePolicy] = (),
        config_maps: ConfigMaps | None = None,
        namespace_labels: Mapping[str, Labels] | None = None,
        operator_namespace: str | None = None,
    ) -> PolicyContext:
        """The one constructor, for the webhook's cluster view, the offline check and the audit alike.
        Workloads may come already compiled (the cluster view keeps them across rebuilds)."""
        by_namespace: dict[str, list[CompiledWorkload]] = {}
        for item in sorted((_compiled(w) for w in workloads), key=lambda c: (c.namespace, c.name)):
            by_namespace.setdefault(item.namespace, []).append(item)
        return cls(
            endpoints={e.metadata.name: endpoint_state(e) for e in endpoints},
            workloads={ns: tuple(ws) for ns, ws in by_namespace.items()},
            policies=tuple(
                (p, compile_selector(p.spec.namespace_selector))
                for p in sorted(policies, key=lambda p: p.metadata.name)
            ),
            config_maps=config_maps or {},
            namespace_labels=namespace_labels or {},
            operator_namespace=operator_namespace,
        )

    @cached_property
    def endpoint_hosts(self) -> frozenset[str]:
        """Every AzureEndpoint's host, compiled once rather than per pod."""
        return frozenset(e.url.host for e in self.endpoints.values() if e.url)

    def is_excluded(self, namespace: str) -> bool:
        """Never governed: system namespaces, the operator's own, and namespaces labelled modelroute.io/ignore."""
        return namespace in self.excluded_namespaces or IGNORE_LABEL in self.labels_of(namespace)

    @cached_property
    def excluded_namespaces(self) -> frozenset[str]:
        extra = {self.operator_namespace} if self.operator_namespace else set()
        return ALWAYS_EXCLUDED_NAMESPACES | extra

    def labels_of(self, namespace: str) -> Labels:
        labels = self.namespace_labels.get(namespace)
        if labels is None or NAMESPACE_NAME_LABEL not in labels:
            return {**(labels or {}), NAMESPACE_NAME_LABEL: namespace}
        return labels

    def policy_for(self, namespace: str) -> EffectivePolicy | None:
        """The effective policy in a namespace, or None when the namespace is not governed.

        The strictest of the RoutePolicies that select it; the built-in default where none does, as in a
        cluster with no RoutePolicy at all. Not governed: the excluded namespaces (`is_excluded`), and a
        namespace that some policy lists in `excludedNamespaces` and no other policy selects (an opt-out
        is read as written, whatever that policy's own selector)."""
        if namespace in self._policy_cache:
            return self._policy_cache[namespace]
        result: EffectivePolicy | None
        if self.is_excluded(namespace):
            result = None
        else:
            labels = self.labels_of(namespace)
            result = strictest(
                (p.metadata.name, p.spec)
                for p, selects in self.policies
                if namespace not in p.spec.excluded_namespaces and selects(labels)
            )
            if result is None and namespace not in self.opted_out_namespaces:
                result = BUILT_IN_POLICY
        # the name is the judged object's: kept only when it can name a namespace, and only so many
        if len(namespace) <= DNS_LABEL_MAX and len(self._policy_cache) < POLICY_MEMO_ENTRIES:
            self._policy_cache[namespace] = result
        return result

    @cached_property
    def opted_out_namespaces(self) -> frozenset[str]:
        """Namespaces some RoutePolicy lists in `excludedNamespaces`."""
        return frozenset(ns for p, _ in self.policies for ns in p.spec.excluded_namespaces)

    def covering_workloads(self, namespace: str, pod_labels: Labels) -> list[CompiledWorkload]:
        return [w for w in self.workloads.get(namespace, ()) if w.selects(pod_labels)]

    def approved_hosts_for(self, namespace: str) -> Mapping[str, EndpointState]:
        """host:port -> endpoint, for the routes a pod no ModelWorkload covers may take: Ready endpoints
        that admit this namespace and are open to every procurement channel (such a pod declares none)."""
        return self._hosts_for(namespace)[0]

    def one_door_hosts_for(self, namespace: str) -> Mapping[str, EndpointState]:
        """host:port -> endpoint, for Ready endpoints that admit this namespace but only one channel:
        routes only a ModelWorkload that declares that channel may take."""
        return self._hosts_for(namespace)[1]

    def _hosts_for(self, namespace: str) -> tuple[dict[str, EndpointState], dict[str, EndpointState]]:
        """(open to every channel, one door's), computed once per namespace rather than per pod."""
        found = self._hosts_cache.get(namespace)
        if found is None:
            labels = self.labels_of(namespace)
            found = ({}, {})
            for e in self.endpoints.values():
                if e.ready and e.host_port and e.allows_namespace(labels):
                    found[0 if e.open_to_every_channel else 1][e.host_port] = e
            self._hosts_cache[namespace] = found
        return found
