"""The level-triggered reconciler: whenever the cluster view changes (and periodically) it recomputes,
from scratch, every ModelRoute resource's status, the background audit, the egress policies and the
PolicyReports, and writes only what differs. A restarted operator converges by construction."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from collections.abc import Callable
from typing import Any

from modelroute.api.v1alpha1 import AzureEndpoint, ModelWorkload, RoutePolicy
from modelroute.cluster.client import Kube
from modelroute.cluster.state import ClusterState
from modelroute.controllers import egress
from modelroute.controllers import status as st
from modelroute.controllers.audit import REPORT_NAME, AuditResult, audit, policy_reports
from modelroute.observability import Metrics

log = logging.getLogger(__name__)
CILIUM_CRD = "ciliumnetworkpolicies.cilium.io"
POLICY_REPORT_CRD = "policyreports.wgpolicyk8s.io"
_MANAGED = egress.MANAGED_SELECTOR


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StatusSync:
    def __init__(
        self,
        state: ClusterState,
        kube: Kube,
        metrics: Metrics | None = None,
        *,
        resync_seconds: float = 300.0,
        debounce_seconds: float = 0.2,
        min_interval_seconds: float = 1.0,
        clock: Callable[[], str] = _now,
    ) -> None:
        self.state = state
        self.kube = kube
        self.metrics = metrics or Metrics()
        self.resync_seconds = resync_seconds
        self.debounce_seconds = debounce_seconds
        self.min_interval_seconds = min_interval_seconds
        self.clock = clock
        self.dirty = asyncio.Event()
        self.last_audit = AuditResult()

    def poke(self, _plural: str | None = None) -> None:
        self.dirty.set()

    async def run(self) -> None:
        self.dirty.set()
        while True:
            with contextlib.suppress(TimeoutError):  # a quiet period still ends in a full resync
                await asyncio.wait_for(self.dirty.wait(), timeout=self.resync_seconds)
            self.dirty.clear()
            await asyncio.sleep(self.debounce_seconds)
            try:
                await asyncio.to_thread(self.sync_once)
            except Exception:
                log.exception("reconcile failed; retrying")
                await asyncio.sleep(2)
                self.dirty.set()
            await asyncio.sleep(self.min_interval_seconds)

    def desired(self, result: AuditResult) -> list[tuple[str, str | None, str, dict[str, Any], dict[str, Any] | None]]:
        """(plural, namespace, name, desired status, current status) for every ModelRoute resource."""
        context = self.state.context()
        namespaces = [key[1] for key in self.state.raw["namespaces"]]
        out = []
        for plural in ("azureendpoints", "modelworkloads", "routepolicies"):
            for (namespace, name), body in list(self.state.raw[plural].items()):
                generation = (body.get("metadata") or {}).get("generation")
                problem = self.state.invalid[plural].get((namespace, name))
                desired: dict[str, Any]
                if problem is not None:
                    desired = st.invalid_status(problem, generation)
                elif plural == "azureendpoints":
                    desired = st.azure_endpoint_status(AzureEndpoint.model_validate(body), context)
                elif plural == "modelworkloads":
                    desired = st.model_workload_status(ModelWorkload.model_validate(body), context)
                    desired["pods"] = result.pod_counts(namespace, name)
                else:
                    desired = st.route_policy_status(RoutePolicy.model_validate(body), context, namespaces)
                out.append((plural, namespace or None, name, desired, body.get("status")))
        return out

    def sync_once(self) -> int:
        context = self.state.context()
        result = audit(list(self.state.raw["pods"].values()), context)
        self.last_audit = result
        self.metrics.audit_runs.inc()
        for outcome, count in result.totals.items():
            self.metrics.audit_pods.labels(outcome).set(count)
        for plural, objects in self.state.raw.items():
            self.metrics.cluster_objects.labels(plural).set(len(objects))
        patched = self._statuses(result)
        self._egress()
        self._reports(result)
        return patched

    def _statuses(self, result: AuditResult) -> int:
        patched = 0
        for plural, namespace, name, desired, current in self.desired(result):
            if not st.differs_ignoring_times(desired, current):
                continue
            status = st.with_transition_times(desired, current, self.clock())
            try:
                self.kube.patch_status(plural, namespace, name, status)
                patched += 1
            except Exception as error:
                log.warning("could not update status of %s %s: %s", plural, name, error)
        self.metrics.status_patches.inc(patched)
        return patched

    def _egress(self) -> None:
        context = self.state.context()
        cilium = self.kube.has_crd(CILIUM_CRD) and egress.may_write(self.kube, "cilium.io", "ciliumnetworkpolicies")
        wanted: dict[tuple[str, str, str], dict[str, Any]] = {}
        for workload in self.state.parsed("modelworkloads"):
            ref = workload.spec.endpoint_ref
            endpoint = context.endpoints.get(ref.name) if ref else None
            if not workload.spec.egress.restrict or endpoint is None or endpoint.url is None:
                continue
            body, gaps = egress.network_policy(workload, endpoint)
            for gap in gaps:
                log.info("egress policy for %s/%s: %s", workload.metadata.namespace, workload.metadata.name, gap)
            wanted[("networkpolicies", body["metadata"]["namespace"], body["metadata"]["name"])] = body
            if cilium:
                cnp = egress.cilium_network_policy(workload, endpoint)
                wanted[("ciliumnetworkpolicies", cnp["metadata"]["namespace"], cnp["metadata"]["name"])] = cnp
        kinds = {"networkpolicies": ("networking.k8s.io", "v1")}
        if cilium:
            kinds["ciliumnetworkpolicies"] = ("cilium.io", "v2")
        for plural, (group, version) in kinds.items():
            for body in [b for (p, _, _), b in wanted.items() if p == plural]:
                self.kube.upsert(group, version, plural, body)
            for existing in self.kube.list_labelled(group, version, plural, _MANAGED):
                meta = existing.get("metadata") or {}
                if (plural, meta.get("namespace"), meta.get("name")) not in wanted:
                    self.kube.delete(group, version, plural, meta["namespace"], meta["name"])

    def _reports(self, result: AuditResult) -> None:
        if not self.kube.has_crd(POLICY_REPORT_CRD) or not egress.may_write(
            self.kube, "wgpolicyk8s.io", "policyreports"
        ):
            return
        seconds = int(datetime.datetime.now(datetime.UTC).timestamp())
        reports = policy_reports(result, seconds)
        existing: dict[str, dict[str, Any]] = {
            str((r.get("metadata") or {}).get("namespace") or ""): r
            for r in self.kube.list_labelled("wgpolicyk8s.io", "v1alpha2", "policyreports", _MANAGED)
            if (r.get("metadata") or {}).get("name") == REPORT_NAME
        }
        for namespace, body in reports.items():
            current = existing.get(namespace)
            if current is not None and _same_results(current, body):
                continue  # only timestamps would change: no write
            self.kube.upsert("wgpolicyk8s.io", "v1alpha2", "policyreports", body)
        for namespace in existing.keys() - reports.keys():
            if namespace:
                self.kube.delete("wgpolicyk8s.io", "v1alpha2", "policyreports", namespace, REPORT_NAME)


def _same_results(current: dict[str, Any], desired: dict[str, Any]) -> bool:
    def strip(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "timestamp"} for r in results]

    return strip(current.get("results") or []) == strip(desired["results"])
