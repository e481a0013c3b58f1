"""The level-triggered reconciler: whenever the cluster view changes (and periodically) it recomputes,
from scratch, every ModelRoute resource's status, the background audit, the egress policies and the
policy reports, and writes only what differs. A restarted operator converges by construction."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from modelroute.api.annotations import MANAGED_SELECTOR
from modelroute.api.kinds import (
    CILIUM_NETWORK_POLICY,
    MODELS_BY_PLURAL,
    NAMESPACE,
    NETWORK_POLICY,
    OWN_PLURALS,
    POD,
    ReportAPI,
)
from modelroute.api.v1alpha1 import AzureEndpoint, ModelWorkload, RoutePolicy
from modelroute.cluster import ClusterState, EventRecorder, Key, Reconciled
from modelroute.engine import (
    AuditMemo,
    AuditResult,
    Decision,
    PolicyContext,
    ReportChoice,
    audit_pods,
    azure_endpoint_status,
    candidates,
    cilium_network_policy,
    differs_ignoring_times,
    endpoint_reports,
    invalid_status,
    model_workload_status,
    network_policy,
    new_violations,
    only_counts_differ,
    redact_text,
    route_policy_status,
    same_report,
    with_transition_times,
    workload_reports,
)
from modelroute.observability import Metrics, WorkloadPods

log = logging.getLogger(__name__)
_M = TypeVar("_M", AzureEndpoint, ModelWorkload, RoutePolicy)
CILIUM_CRD = f"{CILIUM_NETWORK_POLICY.plural}.{CILIUM_NETWORK_POLICY.group}"
_MANAGED = MANAGED_SELECTOR
STATUS_WRITERS = 8  # within the Kubernetes client's default connection pool
MAX_PAUSE_SECONDS = 5.0
#: A status whose only change is the audit's pod counts waits while pods are being created or deleted: it is
#: written once pods have been quiet this long, or once its counts have been stale for COUNTS_MAX_STALE_SECONDS
#: (a cluster whose pods never stop changing). During a burst of creates, a thousand workloads' counts would
#: otherwise be rewritten on every pass.
COUNTS_QUIET_SECONDS = 2.0
COUNTS_MAX_STALE_SECONDS = 30.0


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StatusSync:
    def __init__(
        self,
        state: ClusterState,
        kube: Reconciled,
        metrics: Metrics | None = None,
        *,
        resync_seconds: float = 300.0,
        debounce_seconds: float = 0.2,
        min_interval_seconds: float = 1.0,
        clock: Callable[[], str] = _now,
        report_choice: ReportChoice = ReportChoice.AUTO,
        recorder: Callable[[], EventRecorder | None] = lambda: None,
    ) -> None:
        self.state = state
        self.kube = kube
        self.metrics = metrics or Metrics()
        self.resync_seconds = resync_seconds
        self.debounce_seconds = debounce_seconds
        self.min_interval_seconds = min_interval_seconds
        self.clock = clock
        self.report_choice = report_choice
        self.recorder = recorder
        #: (the view's version before the last audit, the context it judged by): what a ConfigMap change is
        #: measured from, so that only the pods that read it are judged again
        self._audited: tuple[int, PolicyContext] | None = None
        self.dirty = asyncio.Event()
        self.last_audit = AuditResult()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._memo: AuditMemo = {}
        self._written: dict[tuple[str, tuple[str, str]], dict[str, Any]] = {}
        self._stale_since: dict[tuple[str, tuple[str, str]], float] = {}
        self._passed_at = float("-inf")  # time.monotonic() of the last full pass
        self._repair_status = False  # someone else changed a status: the next pass is due at once
        self._wake: asyncio.TimerHandle | None = None
        #: a wake-up is pending for pods to settle: until it comes, a pod's change need not wake the loop (the
        #: wake-up reads the time of the last one and waits again if pods are still changing)
        self._settling = False
        #: set by a pass that held back new pod counts: how long until the first of them is due
        self.deferred_seconds: float | None = None
        self._synced_at: tuple[int, int] | None = None
        state.on_status(self.status_seen)

    def status_seen(self, plural: str, key: tuple[str, str], status: dict[str, Any] | None) -> None:
        """A status changed and nothing else did: the echo of our own write is ignored; anything else (a
        status edited or cleared by someone) asks for a reconcile that puts it right."""
        if self._written.get((plural, key)) != status:
            self._repair_status = True
            self.poke(plural)

    def poke(self, plural: str | None = None) -> None:
        """Ask for a reconcile; safe from any thread (an asyncio.Event set off its loop wakes nobody)."""
        if plural == POD.plural and self._settling:
            return
        loop = self._loop
        if loop is None:
            self.dirty.set()
            return
        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            self.dirty.set()
        elif not self.dirty.is_set():
            # a pass clears the flag before it reads the view, which was updated before this call: when the
            # flag is still set, the pending pass will see this change, and the loop need not be woken
            loop.call_soon_threadsafe(self.dirty.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.dirty.set()
        while True:
            woken = False
            with contextlib.suppress(TimeoutError):  # a quiet period still ends in a resync
                await asyncio.wait_for(self.dirty.wait(), timeout=self.resync_seconds)
                woken = True
            self.dirty.clear()
            await asyncio.sleep(self.debounce_seconds)
            started = time.monotonic()
            wait = self._pods_settling(started) if woken else None
            if wait is not None:
                # only pods changed since the last pass, and they still are: the pass after they settle does the
                # burst's work once, instead of every pass during it taking the CPU the admissions need
                self._wake_in(wait)
                self._settling = True
                continue
            self._settling = False
            try:
                if woken or self._synced_at != self._versions():
                    await asyncio.to_thread(self.sync_once)
                else:  # nothing ModelRoute reads has changed: only repair what lives outside its view
                    await asyncio.to_thread(self.repair)
            except Exception:
                log.exception("reconcile failed; retrying")
                self.metrics.reconcile_errors.inc()
                await asyncio.sleep(2)
                self.dirty.set()
            else:
                self.metrics.audit_last_success.set_to_current_time()
            # about half the time reconciling during a burst (fewer, larger passes), but never more than
            # MAX_PAUSE_SECONDS between passes, so statuses follow soon after the burst ends
            pause = min(max(self.min_interval_seconds, time.monotonic() - started), MAX_PAUSE_SECONDS)
            if self.deferred_seconds is not None:  # held-back counts get a pass of their own when due
                self._wake_in(max(self.deferred_seconds, pause))
                self.deferred_seconds = None
            await asyncio.sleep(pause)

    def _wake_in(self, seconds: float) -> None:
        """One pending wake-up at a time: a later one replaces it."""
        if self._wake is not None:
            self._wake.cancel()
        assert self._loop is not None
        self._wake = self._loop.call_later(seconds, self._woken)

    def _woken(self) -> None:
        self._settling = False
        self.dirty.set()

    def _settling_for(self, now: float) -> float:
        """Seconds until pods will have been quiet for COUNTS_QUIET_SECONDS (0 or less: they are)."""
        return self.state.pods_changed_at + COUNTS_QUIET_SECONDS - now

    def _pods_settling(self, now: float) -> float | None:
        """How long to wait when only pods changed since the last pass and are still changing; None when a pass
        is due: a policy input changed, a status needs putting right, pods are quiet, or the last pass is
        COUNTS_MAX_STALE_SECONDS old."""
        if self._synced_at is None or self._synced_at[0] != self.state.version or self._repair_status:
            return None
        if now - self._passed_at >= COUNTS_MAX_STALE_SECONDS:
            return None
        wait = self._settling_for(now)
        return wait if wait > 0 else None

    def _versions(self) -> tuple[int, int]:
        return self.state.version, self.state.pod_version

    def repair(self) -> None:
        """The quiet-period pass: egress policies and policy reports someone may have changed, from the last
        audit; statuses are watched (see status_seen), so nothing is recomputed."""
        self._egress()
        self._reports(self.last_audit)

    def desired(self, result: AuditResult) -> list[tuple[str, str | None, str, dict[str, Any], dict[str, Any] | None]]:
        """(plural, namespace, name, desired status, current status) for every ModelRoute resource."""
        context = self.state.context()
        namespaces = [key[1] for key in self.state.raw[NAMESPACE.plural]]
        out = []
        for plural in OWN_PLURALS:
            for (namespace, name), body in list(self.state.raw[plural].items()):
                generation = (body.get("metadata") or {}).get("generation")
                problem = self.state.invalid[plural].get((namespace, name))
                desired: dict[str, Any]
                if problem is not None:
                    desired = invalid_status(MODELS_BY_PLURAL[plural], problem, generation)
                elif plural == AzureEndpoint.PLURAL:
                    desired = azure_endpoint_status(self._model(plural, body, AzureEndpoint), context)
                elif plural == ModelWorkload.PLURAL:
                    workload = self._model(plural, body, ModelWorkload)
                    desired = model_workload_status(workload, context, result.pod_counts(namespace, name))
                else:
                    desired = route_policy_status(self._model(plural, body, RoutePolicy), context, namespaces)
                out.append((plural, namespace or None, name, desired, body.get("status")))
        return out

    def _model(self, plural: str, body: Mapping[str, Any], model: type[_M]) -> _M:
        """The cluster view's parsed object when it is the same spec, else parsed here."""
        meta = body.get("metadata") or {}
        parsed = self.state.parsed_one(plural, (str(meta.get("namespace") or ""), str(meta.get("name") or "")))
        if isinstance(parsed, model) and parsed.metadata.generation == meta.get("generation"):
            return parsed
        return model.model_validate(body)

    def sync_once(self) -> int:
        versions = self._versions()
        previous_pass, self._passed_at = self._passed_at, time.monotonic()
        self._repair_status = False
        version = self.state.version
        context = self.state.context()
        pods = list(self.state.raw[POD.plural].values())
        before = self._carry_forward(context)
        result = audit_pods(pods, context, memo=self._memo, judgements=self.state.judgements)
        self._audited = (version, context)
        self.last_audit = result
        self._report_config_map_changes(before, result)
        self.metrics.audit_runs.inc()
        for outcome, count in result.totals.items():
            self.metrics.audit_pods.labels(outcome).set(count)
        self.metrics.audited_workloads.replace(self._workload_pods(result))
        for plural, objects in self.state.raw.items():
            self.metrics.cluster_objects.labels(plural).set(len(objects))
        patched = self._statuses(result, previous_pass)
        if self._synced_at is None or self._synced_at[0] != versions[0]:
            self._egress()  # a function of endpoints and workloads only: pod churn does not re-list it
        self._reports(result)
        self._synced_at = versions
        return patched

    def _carry_forward(self, context: PolicyContext) -> dict[Key, tuple[Decision, tuple[Key, ...]]]:
        """When only ConfigMaps changed since the last audit, the pods that read none of them keep their
        decisions under the new context: the memo is carried over to it, and only the readers are judged again.
        Returns the readers' previous decisions, with the changed ConfigMaps each reads (also when other inputs
        changed too and every pod is judged again)."""
        if self._audited is None or self._audited[1] is context:
            return {}
        version, previous = self._audited
        changed, others = self.state.config_map_changes_since(version)
        if changed is None:
            return {}
        reads: dict[Key, list[Key]] = {}
        for config_map in sorted(changed):
            for reader in self.state.readers_of(*config_map):
                reads.setdefault(reader, []).append(config_map)
        before: dict[Key, tuple[Decision, tuple[Key, ...]]] = {}
        for entry_id, (pod, judged_by, decision) in list(self._memo.items()):
            if judged_by is not previous:
                continue
            key = _pod_key(pod)
            if key in reads:
                before[key] = (decision, tuple(reads[key]))
            elif not others:
                self._memo[entry_id] = (pod, context, decision)
        return before

    def _report_config_map_changes(
        self, before: dict[Key, tuple[Decision, tuple[Key, ...]]], result: AuditResult
    ) -> None:
        """A Warning Event on each running pod that a ConfigMap change made violate where it did not before: an
        edit the ConfigMap webhook did not refuse (Warn, Audit, or the operator down) is seen at once."""
        recorder = self.recorder() if before else None
        if recorder is None:
            return
        for finding in result.findings:
            key = _pod_key(finding.pod)
            if key not in before:
                continue
            decision, config_maps = before[key]
            added = new_violations(decision.violations, finding.decision.violations)
            if not added:
                continue
            names = ", ".join(f"{ns}/{name}" for ns, name in config_maps)
            lines = "; ".join(f"[{v.code}] {redact_text(v.message)}" for v in added)
            message = f"after a change to ConfigMap {names}: {lines}"
            recorder.record(finding.pod, finding.namespace, "Warning", "RouteViolation", message)

    def _workload_pods(self, result: AuditResult) -> list[WorkloadPods]:
        rows = []
        for workload in self.state.parsed(ModelWorkload.PLURAL):
            namespace, name = workload.metadata.namespace or "", workload.metadata.name
            counts = result.pod_counts(namespace, name)
            ref = workload.spec.endpoint_ref
            channel = str(workload.spec.procurement.channel)
            endpoint = ref.name if ref is not None else ""
            rows.append(WorkloadPods(namespace, name, channel, endpoint, counts["compliant"], counts["violating"]))
        return rows

    def _statuses(self, result: AuditResult, previous_pass: float) -> int:
        """Write the statuses that differ. New pod counts alone are held back while pods are changing,
        unless they may have been stale since `previous_pass` for COUNTS_MAX_STALE_SECONDS or more."""
        writes = []
        now = time.monotonic()
        quiet_in = self._settling_for(now)
        self.deferred_seconds = None
        stale_since, self._stale_since = self._stale_since, {}  # only what this pass holds back stays
        for plural, namespace, name, desired, current in self.desired(result):
            key = (plural, (namespace or "", name))
            if not differs_ignoring_times(desired, current):
                continue
            if quiet_in > 0 and only_counts_differ(desired, current):
                since = stale_since.get(key, previous_pass)
                if now - since < COUNTS_MAX_STALE_SECONDS:
                    # new counts only, while pods are still changing: a later pass writes the settled ones
                    self._stale_since[key] = since
                    wait = min(quiet_in, since + COUNTS_MAX_STALE_SECONDS - now)
                    self.deferred_seconds = min(wait, self.deferred_seconds or wait)
                    continue
            status = with_transition_times(desired, current, self.clock())
            self._written[key] = status
            writes.append((plural, namespace, name, status))

        def write(item: tuple[str, str | None, str, dict[str, Any]]) -> bool:
            plural, namespace, name, status = item
            try:
                self.kube.patch_status(plural, namespace, name, status)
                return True
            except Exception as error:
                log.warning("could not update status of %s %s: %s", plural, name, error)
                return False

        # many statuses (a thousand workloads after a burst of pods) are written a few at a time
        if len(writes) > 1:
            with ThreadPoolExecutor(max_workers=STATUS_WRITERS, thread_name_prefix="modelroute-status") as pool:
                patched = sum(pool.map(write, writes))
        else:
            patched = sum(map(write, writes))
        self.metrics.status_patches.inc(patched)
        return patched

    def _egress(self) -> None:
        context = self.state.context()
        cilium = self.kube.has_crd(CILIUM_CRD) and self.kube.may_create(
            CILIUM_NETWORK_POLICY.group, CILIUM_NETWORK_POLICY.plural
        )
        wanted: dict[tuple[str, str, str], dict[str, Any]] = {}
        for workload in self.state.parsed(ModelWorkload.PLURAL):
            ref = workload.spec.endpoint_ref
            endpoint = context.endpoints.get(ref.name) if ref else None
            if not workload.spec.egress.restrict or endpoint is None or endpoint.url is None:
                continue
            body, gaps = network_policy(workload, endpoint)
            for gap in gaps:
                log.info("egress policy for %s/%s: %s", workload.metadata.namespace, workload.metadata.name, gap)
            wanted[(NETWORK_POLICY.plural, body["metadata"]["namespace"], body["metadata"]["name"])] = body
            if cilium:
                cnp = cilium_network_policy(workload, endpoint)
                wanted[(CILIUM_NETWORK_POLICY.plural, cnp["metadata"]["namespace"], cnp["metadata"]["name"])] = cnp
        written = [NETWORK_POLICY, CILIUM_NETWORK_POLICY] if cilium else [NETWORK_POLICY]
        for plural, group, version in ((k.plural, k.group, k.version) for k in written):
            for body in [b for (p, _, _), b in wanted.items() if p == plural]:
                self.kube.upsert(group, version, plural, body)
            for existing in self.kube.list_labelled(group, version, plural, _MANAGED):
                meta = existing.get("metadata") or {}
                if (plural, meta.get("namespace"), meta.get("name")) not in wanted:
                    self.kube.delete(group, version, plural, meta["namespace"], meta["name"])

    def _reports(self, result: AuditResult) -> None:
        """One report per audited workload in the chosen API (the first candidate that is served and granted);
        ModelRoute's reports in the other candidates are removed, so moving to openreports.io leaves no stale
        wgpolicyk8s.io copy for Policy Reporter to show twice."""
        writable = [
            api
            for api in candidates(self.report_choice)
            if self.kube.serves(api.namespaced) and self.kube.may_create(api.group, api.namespaced.plural)
        ]
        seconds = int(datetime.datetime.now(datetime.UTC).timestamp())
        for index, api in enumerate(writable):
            group, version, plural = api.group, api.version, api.namespaced.plural
            desired = workload_reports(result, api, seconds) if index == 0 else {}
            existing = {
                (str(meta.get("namespace") or ""), str(meta.get("name") or "")): body
                for body in self.kube.list_labelled(group, version, plural, _MANAGED)
                if (meta := body.get("metadata") or {})
            }
            for key, body in desired.items():
                current = existing.get(key)
                if current is None or not same_report(current, body):
                    self.kube.upsert(group, version, plural, body)
            for namespace, name in existing.keys() - desired.keys():
                if namespace:
                    self.kube.delete(group, version, plural, namespace, name)
            self._cluster_reports(api, seconds, chosen=index == 0)

    def _cluster_reports(self, api: ReportAPI, seconds: int, *, chosen: bool) -> None:
        """One cluster report per AzureEndpoint, where the API's cluster kind is served and granted."""
        kind = api.cluster
        if not (self.kube.serves(kind) and self.kube.may_create(api.group, kind.plural)):
            return
        endpoints = self.state.context().endpoints.values()
        desired = endpoint_reports(endpoints, api, seconds) if chosen else {}
        existing = {
            str((body.get("metadata") or {}).get("name") or ""): body
            for body in self.kube.list_labelled(api.group, api.version, kind.plural, _MANAGED)
        }
        for name, body in desired.items():
            current = existing.get(name)
            if current is None or not same_report(current, body):
                self.kube.apply_cluster_object(api.group, api.version, kind.plural, body, strict=True)
        for name in existing.keys() - desired.keys():
            if name:
                self.kube.delete_cluster_object(api.group, api.version, kind.plural, name)


def _pod_key(pod: Any) -> Key:
    metadata = pod.get("metadata") or {}
    return str(metadata.get("namespace") or ""), str(metadata.get("name") or "")
