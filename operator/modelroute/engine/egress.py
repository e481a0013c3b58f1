"""Egress policies for ModelWorkloads with `spec.egress.restrict`: a NetworkPolicy (and, where Cilium is
installed, a CiliumNetworkPolicy with toFQDNs) owned by the workload, so they go when it goes.

Pure builders: the reconciler compares their output with what the cluster has.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from modelroute.api.annotations import MANAGED_BY, WORKLOAD_LABEL
from modelroute.api.kinds import CILIUM_NETWORK_POLICY, NETWORK_POLICY
from modelroute.api.meta import API_VERSION
from modelroute.api.v1alpha1 import ModelWorkload
from modelroute.engine import hosts
from modelroute.engine.context import EndpointState

_DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
_CLUSTER_SUFFIXES = (".svc", ".svc.cluster.local")


def policy_name(workload: ModelWorkload) -> str:
    return f"modelroute-egress-{workload.metadata.name}"[:253]


def _owner(workload: ModelWorkload) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ModelWorkload",
        "name": workload.metadata.name,
        "uid": workload.metadata.uid or "",
        "controller": True,
        "blockOwnerDeletion": False,
    }


def _metadata(workload: ModelWorkload) -> dict[str, Any]:
    return {
        "name": policy_name(workload),
        "namespace": workload.metadata.namespace,
        "labels": {**MANAGED_BY, WORKLOAD_LABEL: workload.metadata.name},
        "ownerReferences": [_owner(workload)],
    }


def _proxy_rule(proxy: str) -> tuple[dict[str, Any] | None, str | None]:
    """An egress rule for the proxy, or why none can be written (NetworkPolicy knows no host names)."""
    url = hosts.parse_url(proxy)
    port = [{"protocol": "TCP", "port": url.port}]
    host = url.host.strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        return {"to": [{"ipBlock": {"cidr": f"{address}/{address.max_prefixlen}"}}], "ports": port}, None
    for suffix in _CLUSTER_SUFFIXES:
        if host.endswith(suffix):
            namespace = host.removesuffix(suffix).rsplit(".", 1)[-1]
            selector = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
            return {"to": [{"namespaceSelector": selector}], "ports": port}, None
    return None, f"the proxy {url.host} is a host name outside the cluster; NetworkPolicy can only allow addresses"


def network_policy(workload: ModelWorkload, endpoint: EndpointState) -> tuple[dict[str, Any], list[str]]:
    """The NetworkPolicy for a restricted workload, and what it could not express."""
    gaps: list[str] = []
    rules: list[dict[str, Any]] = [{"to": [{"namespaceSelector": {}}], "ports": _DNS_PORTS}]
    egress = endpoint.endpoint.spec.egress
    port = endpoint.url.port if endpoint.url else 443
    if egress and egress.cidrs:
        rules.append(
            {"to": [{"ipBlock": {"cidr": c}} for c in egress.cidrs], "ports": [{"protocol": "TCP", "port": port}]}
        )
    if egress and egress.proxy:
        rule, gap = _proxy_rule(egress.proxy)
        if rule:
            rules.append(rule)
        if gap:
            gaps.append(gap)
    if not (egress and (egress.cidrs or egress.proxy)):
        gaps.append(f"AzureEndpoint {endpoint.name} declares no spec.egress.cidrs or proxy; only DNS is allowed")
    body = {
        "apiVersion": NETWORK_POLICY.api_version,
        "kind": NETWORK_POLICY.kind,
        "metadata": _metadata(workload),
        "spec": {"podSelector": workload.spec.selector.to_wire(), "policyTypes": ["Egress"], "egress": rules},
    }
    return body, gaps


def cilium_network_policy(workload: ModelWorkload, endpoint: EndpointState) -> dict[str, Any]:
    """Cilium can allow the endpoint by name; DNS must be allowed (and inspected) for toFQDNs to work."""
    assert endpoint.url is not None
    selector = workload.spec.selector.to_wire()
    dns = {
        "toEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system"}}],
        "toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}], "rules": {"dns": [{"matchPattern": "*"}]}}],
    }
    to_endpoint = {
        "toFQDNs": [{"matchName": endpoint.url.host}],
        "toPorts": [{"ports": [{"port": str(endpoint.url.port), "protocol": "TCP"}]}],
    }
    return {
        "apiVersion": CILIUM_NETWORK_POLICY.api_version,
        "kind": CILIUM_NETWORK_POLICY.kind,
        "metadata": _metadata(workload),
        "spec": {"endpointSelector": selector, "egress": [dns, to_endpoint]},
    }
