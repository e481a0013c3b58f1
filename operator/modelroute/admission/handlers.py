"""The kopf admission handlers: AdmissionReview in, the engine's answer out, metrics and Events on the side."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import jsonpatch
import kopf

from modelroute.admission import configurations as cfg
from modelroute.admission.resources import validate_resource
from modelroute.admission.review import NOT_SYNCED, Answer, mutate, needs_event, template_unchanged, validate
from modelroute.api.meta import GROUP, VERSION
from modelroute.engine.verdict import Outcome
from modelroute.runtime import Runtime

log = logging.getLogger("modelroute")


def _event_for(answer: Answer, body: Mapping[str, Any], runtime: Runtime, dryrun: bool) -> None:
    if dryrun or runtime.recorder is None or not needs_event(answer.decision):
        return
    decision = answer.decision
    assert decision is not None
    namespace = str((body.get("metadata") or {}).get("namespace") or "default")
    if decision.outcome is Outcome.DENIED:
        message = "; ".join(f"[{v.code}] {v.message}" for v in decision.violations)
        runtime.recorder.record(body, namespace, "Warning", "RouteDenied", message)
    elif decision.outcome is Outcome.WARNED:
        runtime.recorder.record(body, namespace, "Warning", "RouteViolation", "; ".join(decision.warnings))
    elif decision.outcome is Outcome.REWRITTEN:
        runtime.recorder.record(
            body,
            namespace,
            "Normal",
            "RouteRewritten",
            f"endpoint settings rewritten to AzureEndpoint {decision.endpoint}",
        )


def register_admission(registry: kopf.OperatorRegistry, runtime: Runtime) -> None:
    state = runtime.state
    metrics = runtime.metrics

    @kopf.on.mutate("", "v1", "pods", id=cfg.MUTATE_PODS, operations=["CREATE"], registry=registry)
    def mutate_pod(body: Mapping[str, Any], patch: kopf.Patch, dryrun: bool, **_: Any) -> None:
        known_namespace(body)
        if not state.ready:
            metrics.admission_requests.labels(cfg.MUTATE_PODS, "not-synced").inc()
            return
        with metrics.admission_seconds.labels(cfg.MUTATE_PODS).time():
            answer = mutate(dict(body), state.context())
        metrics.admission_requests.labels(cfg.MUTATE_PODS, "patched" if answer.patch else "unchanged").inc()
        if answer.patch:
            ops = answer.patch
            patch.fns.append(lambda target: jsonpatch.apply_patch(target, ops, in_place=True))
        if answer.decision is not None and answer.decision.outcome is Outcome.REWRITTEN:
            _event_for(answer, body, runtime, dryrun)

    def known_namespace(body: Mapping[str, Any]) -> None:
        # the one API call admission may make: a namespace created a moment ago may not be in the view yet,
        # and judging it without its labels could leave it ungoverned
        namespace = str((body.get("metadata") or {}).get("namespace") or "")
        if namespace and ("", namespace) not in state.raw["namespaces"]:
            try:
                found = runtime.kube.read_namespace(namespace)
            except Exception as error:  # the judgement goes on with the name label only; say so
                log.warning("could not read namespace %s: %s", namespace, error)
                return
            if found is not None:
                state.upsert("namespaces", found)

    def judge(webhook: str, body: Mapping[str, Any], warnings: list[str], dryrun: bool) -> None:
        known_namespace(body)
        if not state.ready:
            metrics.admission_requests.labels(webhook, "not-synced").inc()
            raise kopf.AdmissionError(NOT_SYNCED, code=503)
        with metrics.admission_seconds.labels(webhook).time():
            answer = validate(dict(body), state.context())
        decision = answer.decision
        result = "denied" if not answer.allowed else (str(decision.outcome) if decision else "allowed")
        metrics.admission_requests.labels(webhook, result).inc()
        for violation in decision.violations if decision else ():
            metrics.admission_violations.labels(webhook, str(violation.code)).inc()
        warnings.extend(answer.warnings)
        if answer.decision is None or answer.decision.outcome is not Outcome.REWRITTEN:
            _event_for(answer, body, runtime, dryrun)
        if not answer.allowed:
            raise kopf.AdmissionError(answer.message, code=403)

    @kopf.on.validate("", "v1", "pods", id=cfg.VALIDATE_PODS, registry=registry)
    def validate_pod(body: Mapping[str, Any], warnings: list[str], dryrun: bool, **_: Any) -> None:
        judge(cfg.VALIDATE_PODS, body, warnings, dryrun)

    # kopf dispatches a subresource request only to handlers registered for that subresource
    @kopf.on.validate("", "v1", "pods", id=cfg.VALIDATE_PODS, subresource="ephemeralcontainers", registry=registry)
    def validate_ephemeral(body: Mapping[str, Any], warnings: list[str], dryrun: bool, **_: Any) -> None:
        judge(cfg.VALIDATE_PODS, body, warnings, dryrun)

    for group, version, plural in cfg.POD_CONTROLLERS:

        @kopf.on.validate(group, version, plural, id=cfg.VALIDATE_CONTROLLERS, registry=registry)
        def validate_controller(
            body: Mapping[str, Any], warnings: list[str], dryrun: bool, old: Mapping[str, Any] | None = None, **_: Any
        ) -> None:
            if template_unchanged(old, body):
                return
            judge(cfg.VALIDATE_CONTROLLERS, body, warnings, dryrun)

    for plural in cfg.OWN_RESOURCES:

        @kopf.on.validate(GROUP, VERSION, plural, id=cfg.VALIDATE_RESOURCES, registry=registry)
        def validate_own(body: Mapping[str, Any], warnings: list[str], operation: str = "CREATE", **_: Any) -> None:
            answer = validate_resource(dict(body), operation, state.context())
            warnings.extend(answer.warnings)
            if not answer.allowed:
                raise kopf.AdmissionError(answer.message, code=422)
