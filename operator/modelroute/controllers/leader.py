"""Leader election on a coordination.k8s.io Lease: webhooks scale out, reconcilers run once.

kopf's peering freezes all replicas of equal priority, so the reconcilers elect a leader of their own
with the same Lease protocol as client-go's leaderelection.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from modelroute.api.kinds import LEASE
from modelroute.cluster import LeaseStore

log = logging.getLogger(__name__)
_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _parse(stamp: str | None) -> datetime.datetime | None:
    if not stamp:
        return None
    for fmt in (_FORMAT, "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.datetime.strptime(stamp, fmt).replace(tzinfo=datetime.UTC)
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class LeaseTerms:
    namespace: str
    name: str = "modelroute-leader"
    duration_seconds: int = 15
    renew_every_seconds: float = 5.0


def decide(spec: dict[str, Any] | None, me: str, now: datetime.datetime, terms: LeaseTerms) -> dict[str, Any] | None:
    """The lease spec to write to hold the lease, or None when another live holder has it (pure)."""
    stamp = now.strftime(_FORMAT)
    spec = spec or {}
    holder = spec.get("holderIdentity")
    renewed = _parse(spec.get("renewTime")) or _parse(spec.get("acquireTime"))
    duration = int(spec.get("leaseDurationSeconds") or terms.duration_seconds)
    expired = renewed is None or now > renewed + datetime.timedelta(seconds=duration)
    if holder == me:
        return {**spec, "renewTime": stamp, "leaseDurationSeconds": terms.duration_seconds}
    if holder and not expired:
        return None
    return {
        "holderIdentity": me,
        "leaseDurationSeconds": terms.duration_seconds,
        "acquireTime": stamp,
        "renewTime": stamp,
        "leaseTransitions": int(spec.get("leaseTransitions") or 0) + (1 if holder else 0),
    }


@dataclass(eq=False)  # one elector is one replica's: compared by identity
class LeaderElector:
    """Holds the Lease while this replica leads: `on_started` when it takes the lead, `on_stopped` when
    it loses it."""

    kube: LeaseStore
    terms: LeaseTerms
    identity: str
    on_started: Callable[[], Awaitable[None]]
    on_stopped: Callable[[], Awaitable[None]]
    leading: bool = field(default=False, init=False)

    def _try(self) -> bool:
        current = self.kube.read_lease(self.terms.namespace, self.terms.name)
        if current is None:
            return self.kube.create_lease(
                {
                    "apiVersion": LEASE.api_version,
                    "kind": LEASE.kind,
                    "metadata": {"name": self.terms.name, "namespace": self.terms.namespace},
                    "spec": decide(None, self.identity, _now(), self.terms),
                }
            )
        spec = decide(current.get("spec"), self.identity, _now(), self.terms)
        if spec is None:
            return False
        return self.kube.replace_lease({**current, "spec": spec})

    async def run(self) -> None:
        try:
            while True:
                try:
                    holding = await asyncio.to_thread(self._try)
                except Exception as error:
                    log.warning("leader election: %s", error)
                    holding = False
                if holding and not self.leading:
                    self.leading = True
                    log.info("became the leader (%s/%s)", self.terms.namespace, self.terms.name)
                    await self.on_started()
                elif not holding and self.leading:
                    self.leading = False
                    log.warning("lost the leadership; stopping the reconcilers")
                    await self.on_stopped()
                await asyncio.sleep(self.terms.renew_every_seconds)
        finally:
            if self.leading:
                self.leading = False
                await self.on_stopped()
