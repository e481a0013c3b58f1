"""Every kind ModelRoute reads or writes, described once: group, version, plural, scope, short names and
printer columns. ModelRoute's own kinds are derived from their API models; the core kinds it reads
(ConfigMaps, Namespaces, Pods) are listed beside them, so the cluster client, the cluster view, the
webhook configurations, the offline reader and the CRD generator all take their names from here."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelroute.api.meta import GROUP, VERSION
from modelroute.api.v1alpha1 import AzureEndpoint, ModelWorkload, RoutePolicy

Resource = AzureEndpoint | ModelWorkload | RoutePolicy
ResourceModel = type[AzureEndpoint] | type[ModelWorkload] | type[RoutePolicy]


@dataclass(frozen=True, slots=True)
class Kind:
    kind: str
    plural: str
    group: str
    version: str
    namespaced: bool
    #: the API model of ModelRoute's own kinds; None for the core kinds it only reads
    model: ResourceModel | None = None
    short_names: tuple[str, ...] = ()
    printer_columns: tuple[dict[str, Any], ...] = ()
    #: for the kinds judged as pods: the path from the object's root to its pod (template), empty for a Pod
    pod_template: tuple[str, ...] | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def scope(self) -> str:
        return "Namespaced" if self.namespaced else "Cluster"

    @property
    def description(self) -> str:
        return inspect.cleandoc(self.model.__doc__ or "") if self.model is not None else ""


def _own(model: ResourceModel) -> Kind:
    return Kind(
        kind=model.KIND,
        plural=model.PLURAL,
        group=GROUP,
        version=VERSION,
        namespaced=model.SCOPE == "Namespaced",
        model=model,
        short_names=model.SHORT_NAMES,
        printer_columns=model.PRINTER_COLUMNS,
    )


#: ModelRoute's own kinds, in the order their CRDs are written.
OWN_KINDS: tuple[Kind, ...] = tuple(_own(model) for model in (AzureEndpoint, ModelWorkload, RoutePolicy))
CONFIG_MAP = Kind("ConfigMap", "configmaps", "", "v1", namespaced=True)
NAMESPACE = Kind("Namespace", "namespaces", "", "v1", namespaced=False)
POD = Kind("Pod", "pods", "", "v1", namespaced=True, pod_template=())
#: what the reconciler writes for a workload whose egress is restricted, and the Lease its replicas elect by
NETWORK_POLICY = Kind("NetworkPolicy", "networkpolicies", "networking.k8s.io", "v1", namespaced=True)
CILIUM_NETWORK_POLICY = Kind("CiliumNetworkPolicy", "ciliumnetworkpolicies", "cilium.io", "v2", namespaced=True)
LEASE = Kind("Lease", "leases", "coordination.k8s.io", "v1", namespaced=True)
_TEMPLATE = ("spec", "template")
#: Every kind judged as a pod: the Pod, and each kind holding a pod template, judged as its pods will be (by
#: the controller webhook and by `modelroute check` alike). A PodTemplate creates no pod but is judged, so a
#: template that a controller copies fails where it is written.
POD_KINDS: tuple[Kind, ...] = (
    POD,
    Kind("Deployment", "deployments", "apps", "v1", namespaced=True, pod_template=_TEMPLATE),
    Kind("StatefulSet", "statefulsets", "apps", "v1", namespaced=True, pod_template=_TEMPLATE),
    Kind("DaemonSet", "daemonsets", "apps", "v1", namespaced=True, pod_template=_TEMPLATE),
    Kind("ReplicaSet", "replicasets", "apps", "v1", namespaced=True, pod_template=_TEMPLATE),
    Kind("Job", "jobs", "batch", "v1", namespaced=True, pod_template=_TEMPLATE),
    Kind("CronJob", "cronjobs", "batch", "v1", namespaced=True, pod_template=("spec", "jobTemplate", *_TEMPLATE)),
    Kind("ReplicationController", "replicationcontrollers", "", "v1", namespaced=True, pod_template=_TEMPLATE),
    Kind("PodTemplate", "podtemplates", "", "v1", namespaced=True, pod_template=("template",)),
)
#: The kinds the controller webhook judges: every pod kind but the Pod itself.
POD_CONTROLLER_KINDS: tuple[Kind, ...] = tuple(k for k in POD_KINDS if k.pod_template)
#: What the operator watches: its own kinds and the core objects its decisions read.
WATCHED_KINDS: tuple[Kind, ...] = (*OWN_KINDS, CONFIG_MAP, NAMESPACE, POD)
#: What a policy context is made of, by kind name (the offline reader's context kinds).
CONTEXT_KINDS: tuple[Kind, ...] = (*OWN_KINDS, CONFIG_MAP, NAMESPACE)

BY_PLURAL: Mapping[str, Kind] = {k.plural: k for k in WATCHED_KINDS}
BY_KIND: Mapping[str, Kind] = {k.kind: k for k in WATCHED_KINDS}
OWN_PLURALS: tuple[str, ...] = tuple(k.plural for k in OWN_KINDS)
MODELS_BY_KIND: Mapping[str, ResourceModel] = {k.kind: k.model for k in OWN_KINDS if k.model is not None}
MODELS_BY_PLURAL: Mapping[str, ResourceModel] = {k.plural: k.model for k in OWN_KINDS if k.model is not None}


@dataclass(frozen=True, slots=True)
class ReportAPI:
    """A policy report API that the audit can write: its namespaced and its cluster-scoped kind.

    Both APIs share one result format (openreports.io is wgpolicyk8s.io v1alpha2 moved to its own group, with a
    report-level `source` added), so one builder serves both."""

    #: the name users choose it by (`--report-api`, the chart's `reports.api`)
    name: str
    namespaced: Kind
    cluster: Kind
    #: whether the report itself has a top-level `source` field (wgpolicyk8s.io v1alpha2 has none: it is pruned)
    report_source: bool

    @property
    def group(self) -> str:
        return self.namespaced.group

    @property
    def version(self) -> str:
        return self.namespaced.version

    @property
    def kinds(self) -> tuple[Kind, Kind]:
        return (self.namespaced, self.cluster)


#: OpenReports (https://openreports.io), what Kyverno 1.15+ writes with --openreportsEnabled.
OPENREPORTS = ReportAPI(
    name="openreports",
    namespaced=Kind("Report", "reports", "openreports.io", "v1alpha1", namespaced=True),
    cluster=Kind("ClusterReport", "clusterreports", "openreports.io", "v1alpha1", namespaced=False),
    report_source=True,
)
#: The Kubernetes Policy WG's PolicyReport, which OpenReports succeeds.
WGPOLICYK8S = ReportAPI(
    name="wgpolicyk8s",
    namespaced=Kind("PolicyReport", "policyreports", "wgpolicyk8s.io", "v1alpha2", namespaced=True),
    cluster=Kind("ClusterPolicyReport", "clusterpolicyreports", "wgpolicyk8s.io", "v1alpha2", namespaced=False),
    report_source=False,
)
#: Every report API, the preferred first: where both are served, `auto` writes the first.
REPORT_APIS: tuple[ReportAPI, ...] = (OPENREPORTS, WGPOLICYK8S)
