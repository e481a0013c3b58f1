"""A ConfigMap edit judged by the running pods that read it. The kubelet reads a ConfigMap again after
admission (mounted files follow its data, and a container that restarts loads its `envFrom` and
unpinned `configMapKeyRef` values anew), so an UPDATE or DELETE can move a running pod's traffic: it is
refused under Enforce when a pod that read it would violate where it did not before.

Each pod is judged as it is stored (admitted, mutated, with the values admission pinned as literals)
under the ConfigMap's data before and after the write; what is pinned cannot change, so only what the
kubelet re-reads can make a difference. Pure: the cluster view hands in the pods and the context."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from modelroute.api.v1alpha1 import Enforcement
from modelroute.engine.context import PolicyContext
from modelroute.engine.environment import ConfigMaps
from modelroute.engine.evaluate import evaluate
from modelroute.engine.judgements import content_key
from modelroute.engine.podspec import NotAPodError
from modelroute.engine.redaction import redact_text
from modelroute.engine.verdict import Code, Violation

#: how many pods a message names before it counts the rest
NAMED_PODS = 3
#: how many distinct violations a message lists
LISTED_VIOLATIONS = 5
_FINISHED = ("Succeeded", "Failed")

Data = Mapping[str, str]


class _WithConfigMap(Mapping[tuple[str, str], Data]):
    """The context's ConfigMaps with one of them replaced (or removed): nothing is copied."""

    def __init__(self, base: ConfigMaps, key: tuple[str, str], data: Data | None) -> None:
        self.base, self.key, self.data = base, key, data

    def __getitem__(self, key: tuple[str, str]) -> Data:
        if key == self.key:
            if self.data is None:
                raise KeyError(key)
            return self.data
        return self.base[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        yield from (k for k in self.base if k != self.key)
        if self.data is not None:
            yield self.key

    def __len__(self) -> int:
        return sum(1 for _ in self)


def with_config_map(context: PolicyContext, namespace: str, name: str, data: Data | None) -> PolicyContext:
    """The same context with ConfigMap namespace/name holding `data` (None: absent)."""
    return replace(context, config_maps=_WithConfigMap(context.config_maps, (namespace, name), data))


@dataclass(frozen=True, slots=True)
class PodRegression:
    """A pod that reads the ConfigMap and would violate, after the write, in ways it did not before."""

    pod: str
    violations: tuple[Violation, ...]


@dataclass(frozen=True, slots=True)
class EditVerdict:
    namespace: str
    name: str
    enforcement: Enforcement | None  # None: the namespace is not governed
    regressions: tuple[PodRegression, ...] = ()
    judged: int = 0  # distinct pod contents judged (under the new data; under the old too where that violates)
    after_missing: bool = False

    @property
    def allowed(self) -> bool:
        return not (self.regressions and self.enforcement is Enforcement.ENFORCE)

    def _lines(self) -> list[str]:
        """One line per distinct violation, naming the pods it comes from (a few, then a count)."""
        pods_of: dict[str, list[str]] = {}
        for regression in self.regressions:
            for v in regression.violations:
                pods_of.setdefault(f"[{v.code}] {redact_text(v.message)}", []).append(regression.pod)
        lines = [
            f"{line} (pod{'s' if len(pods) > 1 else ''} {_few(pods)})"
            for line, pods in list(pods_of.items())[:LISTED_VIOLATIONS]
        ]
        if len(pods_of) > LISTED_VIOLATIONS:
            lines.append(f"and {len(pods_of) - LISTED_VIOLATIONS} more violations")
        return lines

    def _what(self) -> str:
        change = "the deletion of" if self.after_missing else "this change to"
        count = len(self.regressions)
        pods, were = ("pod", "it was") if count == 1 else ("pods", "they were")
        names = _few([r.pod for r in self.regressions])
        return (
            f"{change} ConfigMap {self.namespace}/{self.name}: {count} running {pods} that read it would take a "
            f"route {were} not admitted with: {names}"
        )

    @property
    def message(self) -> str:
        if self.allowed:
            return ""
        lines = "\n".join(f"- {line}" for line in self._lines())
        return f"ModelRoute denied {self._what()}\n{lines}"

    @property
    def warnings(self) -> tuple[str, ...]:
        """Under Warn: what the write does to the pods, as admission warnings."""
        if not self.regressions or self.enforcement is not Enforcement.WARN:
            return ()
        return (f"ModelRoute: {self._what()}", *self._lines())


def _few(names: list[str]) -> str:
    shown = ", ".join(names[:NAMED_PODS])
    return f"{shown} and {len(names) - NAMED_PODS} more" if len(names) > NAMED_PODS else shown


#: a reference the write leaves unresolved opens no route: the kubelet does not start a container whose
#: ConfigMap or key is missing (an optional one it skips, and the engine judges what is left)
_NO_NEW_ROUTE = frozenset({Code.UNRESOLVED_REFERENCE})


def new_violations(before: Iterable[Violation], after: Iterable[Violation]) -> tuple[Violation, ...]:
    known = set(before)
    return tuple(v for v in after if v not in known and v.code not in _NO_NEW_ROUTE)


def judge_config_map_edit(
    pods: Iterable[Mapping[str, Any]],
    namespace: str,
    name: str,
    before: Data | None,
    after: Data | None,
    context: PolicyContext,
) -> EditVerdict:
    """Judge a write of ConfigMap namespace/name (its data `before` and `after`; None: absent) by the stored
    pods that read it. Pods with the same content (the replicas of one template) are judged once, under the new
    data, and under the old data only where the new one violates."""
    policy = context.policy_for(namespace)
    if policy is None:
        return EditVerdict(namespace, name, None, after_missing=after is None)
    old = with_config_map(context, namespace, name, before)
    new = with_config_map(context, namespace, name, after)
    by_content: dict[bytes, tuple[Violation, ...]] = {}
    regressions: list[PodRegression] = []
    for pod in pods:
        if (pod.get("status") or {}).get("phase") in _FINISHED:
            continue
        key = content_key(namespace, pod)
        found = by_content.get(key)
        if found is None:
            try:
                # the data after the write first: a pod that does not violate then needs no comparison
                after_violations = evaluate(pod, new, namespace, mutate=False).violations
                found = ()
                if any(v.code not in _NO_NEW_ROUTE for v in after_violations):
                    found = new_violations(evaluate(pod, old, namespace, mutate=False).violations, after_violations)
            except NotAPodError:
                found = ()
            by_content[key] = found
        if found:
            regressions.append(PodRegression(str((pod.get("metadata") or {}).get("name") or ""), found))
    regressions.sort(key=lambda r: r.pod)
    return EditVerdict(
        namespace, name, policy.enforcement, tuple(regressions), judged=len(by_content), after_missing=after is None
    )
