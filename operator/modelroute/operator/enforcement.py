"""Ready means enforced: server-side dry-run requests that the webhooks and the guards must refuse.

The API server loads webhook configurations and ValidatingAdmissionPolicies asynchronously, some time after
they are written: a configuration that exists is not yet one that is in force. Each probe here sends a
request that is refused only once the thing it probes is in force, so a readiness that waits for all of
them cannot run ahead of the API server:

- the webhooks: a dry-run pod labelled `modelroute.io/enforcement-probe`, which the mutating webhook marks
  and the validating webhook always refuses, saying whether it arrived marked;
- the annotation guard: a dry-run Binding carrying a `modelroute.io/` annotation for a pod that does not
  exist; the policy refuses it before the pod is looked up, and without the policy it is a 404;
- the owned-objects guard: a dry-run NetworkPolicy without ModelRoute's label, which the policy refuses for
  the operator's ServiceAccount (the only user it matches).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from modelroute.api import annotations as ann
from modelroute.cluster import DryRun, DryRuns

log = logging.getLogger("modelroute")

#: the name every probe object is sent with (nothing by this name is ever stored: dry runs only)
PROBE_NAME = "modelroute-enforcement-probe"
FIRST_RETRY_SECONDS = 0.25
LAST_RETRY_SECONDS = 2.0


@dataclass(frozen=True)
class Probe:
    """One dry-run create and how to read its answer: `verdict` is None when the refusal proves `what` is in
    force, else why it does not."""

    what: str
    kind: str
    namespace: str
    body: dict[str, Any]
    verdict: Callable[[DryRun], str | None]


def webhooks_probe(namespace: str) -> Probe:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": PROBE_NAME, "namespace": namespace, "labels": {ann.ENFORCEMENT_PROBE: "readiness"}},
        "spec": {"containers": [{"name": "probe", "image": PROBE_NAME}]},
    }

    def verdict(answer: DryRun) -> str | None:
        if answer.allowed:
            return (
                f"a dry-run pod in namespace {namespace} was admitted: the API server does not call the webhooks there"
            )
        if ann.ENFORCEMENT_PROBE_REFUSAL not in answer.message:
            return f"a dry-run pod in namespace {namespace} was refused, but not by ModelRoute: {answer.message}"
        if "(mutated: yes)" not in answer.message:
            return "the validating webhook answers, the mutating webhook is not called yet"
        return None

    return Probe("the webhooks", "Pod", namespace, body, verdict)


def annotation_guard_probe(policy: str, namespace: str) -> Probe:
    body = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": PROBE_NAME, "namespace": namespace, "annotations": {ann.DECISION: "probe"}},
        "target": {"apiVersion": "v1", "kind": "Node", "name": PROBE_NAME},
    }
    refusal = "a Binding cannot set modelroute.io/ annotations"
    return Probe(f"the annotation guard {policy}", "Binding", namespace, body, _refused_by(policy, refusal, namespace))


def owned_objects_guard_probe(policy: str, namespace: str) -> Probe:
    body = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": PROBE_NAME, "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }
    refusal = "ModelRoute writes only objects labelled"
    what = f"the owned-objects guard {policy}"
    return Probe(what, "NetworkPolicy", namespace, body, _refused_by(policy, refusal, namespace))


def _refused_by(policy: str, refusal: str, namespace: str) -> Callable[[DryRun], str | None]:
    """In force when `policy` refuses the dry run, or when an identical guard does (the API server names only
    the first policy that refuses: another release's or local mode's guard, with the same rule, says the
    same thing and keeps the same promise)."""
    mark = f"ValidatingAdmissionPolicy '{policy}'"

    def verdict(answer: DryRun) -> str | None:
        if not answer.allowed and (
            mark in answer.message or ("ValidatingAdmissionPolicy '" in answer.message and refusal in answer.message)
        ):
            return None
        said = "admitted" if answer.allowed else f"answered {answer.status}: {answer.message}"
        return f"a dry run in namespace {namespace} that {mark} refuses was {said}"

    return verdict


def not_in_force(kube: DryRuns, probes: Iterable[Probe]) -> list[str]:
    """What is not in force yet, one line each: empty when every probe was refused as it must be."""
    out = []
    for probe in probes:
        try:
            why = probe.verdict(kube.dry_run(probe.kind, probe.namespace, probe.body))
        except Exception as error:  # a network error is a "not yet", with the reason
            why = f"{type(error).__name__}: {error}"
        if why is not None:
            out.append(f"{probe.what}: {why}")
    return out


def wait_until_enforced(kube: DryRuns, probes: list[Probe], timeout: float | None = None) -> list[str]:
    """Probe until everything is in force (returns []) or `timeout` seconds pass (returns what is not)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = FIRST_RETRY_SECONDS
    while True:
        missing = not_in_force(kube, probes)
        if not missing or (deadline is not None and time.monotonic() + delay > deadline):
            return missing
        time.sleep(delay)
        delay = min(delay * 2, LAST_RETRY_SECONDS)


async def establish(kube: DryRuns, probes: list[Probe]) -> None:
    """Return once every probe is refused as it must be; says what it is waiting for while it waits."""
    delay = FIRST_RETRY_SECONDS
    said: list[str] = []
    while True:
        missing = await asyncio.to_thread(not_in_force, kube, probes)
        if not missing:
            log.info("enforcement verified: %s", ", ".join(p.what for p in probes))
            return
        if missing != said:
            log.info("not ready yet: %s", "; ".join(missing))
            said = missing
        await asyncio.sleep(delay)
        delay = min(delay * 2, LAST_RETRY_SECONDS)
