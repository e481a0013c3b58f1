"""Level-triggered status reconciler: whenever the cluster view changes (and periodically), compute
every ModelRoute resource's status from scratch and patch the ones that differ. A restarted operator
converges by construction."""

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
from modelroute.controllers import status as st

log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StatusSync:
    def __init__(
        self,
        state: ClusterState,
        kube: Kube,
        *,
        resync_seconds: float = 300.0,
        debounce_seconds: float = 0.2,
        clock: Callable[[], str] = _now,
    ) -> None:
        self.state = state
        self.kube = kube
        self.resync_seconds = resync_seconds
        self.debounce_seconds = debounce_seconds
        self.clock = clock
        self.dirty = asyncio.Event()
        self.patches = 0

    def poke(self, _plural: str | None = None) -> None:
        self.dirty.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):  # a quiet period still ends in a full resync
                await asyncio.wait_for(self.dirty.wait(), timeout=self.resync_seconds)
            self.dirty.clear()
            await asyncio.sleep(self.debounce_seconds)
            try:
                await asyncio.to_thread(self.sync_once)
            except Exception:
                log.exception("status sync failed; retrying on the next change")
                await asyncio.sleep(2)
                self.dirty.set()

    def desired(self) -> list[tuple[str, str | None, str, dict[str, Any], dict[str, Any] | None]]:
        """(plural, namespace, name, desired status, current status) for every resource."""
        context = self.state.context()
        namespaces = [key[1] for key in self.state.raw["namespaces"]]
        out = []
        for plural, bodies in (
            ("azureendpoints", self.state.raw["azureendpoints"]),
            ("modelworkloads", self.state.raw["modelworkloads"]),
            ("routepolicies", self.state.raw["routepolicies"]),
        ):
            for (namespace, name), body in list(bodies.items()):
                generation = (body.get("metadata") or {}).get("generation")
                problem = self.state.invalid[plural].get((namespace, name))
                desired: dict[str, Any]
                if problem is not None:
                    desired = st.invalid_status(problem, generation)
                elif plural == "azureendpoints":
                    desired = st.azure_endpoint_status(AzureEndpoint.model_validate(body), context)
                elif plural == "modelworkloads":
                    desired = st.model_workload_status(ModelWorkload.model_validate(body), context)
                else:
                    desired = st.route_policy_status(RoutePolicy.model_validate(body), context, namespaces)
                out.append((plural, namespace or None, name, desired, body.get("status")))
        return out

    def sync_once(self) -> int:
        patched = 0
        for plural, namespace, name, desired, current in self.desired():
            if not st.differs_ignoring_times(desired, current):
                continue
            status = st.with_transition_times(desired, current, self.clock())
            try:
                self.kube.patch_status(plural, namespace, name, status)
                patched += 1
            except Exception as error:
                log.warning("could not update status of %s %s: %s", plural, name, error)
        self.patches += patched
        return patched
