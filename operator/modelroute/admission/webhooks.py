"""The admission request path: AdmissionReview bytes in, answer bytes out.

One review costs parsing it (orjson), judging it with the engine against the cached policy context and
writing the answer with the engine's own JSON patch. Nothing here waits on the API server except the single
read of a namespace the cluster view has never seen; Events leave through the recorder's queue.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, cast

import orjson

from modelroute.admission import configurations as cfg
from modelroute.admission.connection import Reply, plain
from modelroute.admission.resources import validate_resource
from modelroute.admission.review import (
    NOT_SYNCED,
    Answer,
    is_enforcement_probe,
    mutate,
    needs_event,
    probe_mutation,
    probe_validation,
    template_unchanged,
    validate,
    validate_produced,
)
from modelroute.admission.reviews import AdmissionRequest, AdmissionResponse, AdmissionReview, AdmissionReviewResponse
from modelroute.api.annotations import PROCUREMENT_CHANNEL
from modelroute.api.kinds import NAMESPACE, POD
from modelroute.api.meta import is_dns_label
from modelroute.cluster import ClusterState, EventRecorder
from modelroute.engine import (
    JSONPatch,
    NestingTooDeepError,
    Outcome,
    PolicyContext,
    config_map_data,
    judge_config_map_edit,
    sized_content_key,
    without_produced,
)
from modelroute.observability import OTHER, Metrics, RateLimitedLog

log = logging.getLogger("modelroute")

#: (group, resource, subResource) -> operations each webhook path is registered for; anything else sent to a
#: path was not routed there by the configurations and is refused with a 400 that says so.
Route = cfg.Route
ROUTES: Mapping[str, Mapping[Route, frozenset[str]]] = cfg.routes()

#: metadata fields the API server always sends as strings, and that the request path reads
_METADATA_STRINGS = ("name", "generateName", "namespace")

NamespaceReader = Callable[[str], Awaitable[dict[str, Any] | None]]


class BadReviewError(ValueError):
    """A request body that is not an AdmissionReview this path answers: a 400 with this message."""


def _bad(message: str) -> Reply:
    return plain(400, message)


#: the serialised size (sized_content_key) of all the objects whose answers the verdict cache keeps: a kept
#: answer holds its patch and decision (without the produced pod), a few times that size in memory
VERDICT_CACHE_BYTES = 16 * 1024 * 1024
#: an object larger than this is judged each time it is reviewed, and its answer never kept
LARGEST_CACHED_OBJECT = 1024 * 1024


class VerdictCache:
    """A small LRU of answers for one policy context, keyed by the judged content's hash: the pods of one
    template, and the pod the mutating call just produced, are judged once. Cleared when the context changes,
    so a verdict is never served against policy inputs it was not computed from. Bounded in entries and in the
    serialised size of the objects behind them (VERDICT_CACHE_BYTES, LARGEST_CACHED_OBJECT)."""

    def __init__(self, capacity: int = 4096, max_bytes: int = VERDICT_CACHE_BYTES) -> None:
        self.capacity, self.max_bytes = capacity, max_bytes
        self.context: PolicyContext | None = None
        self.answers: OrderedDict[tuple[str, bytes], tuple[Answer, int]] = OrderedDict()
        self.bytes = 0
        self.hits = 0

    def bind(self, context: PolicyContext) -> None:
        if context is not self.context:
            self.context = context
            self.answers.clear()
            self.bytes = 0

    def get(self, webhook: str, key: bytes) -> Answer | None:
        found = self.answers.get((webhook, key))
        if found is None:
            return None
        self.answers.move_to_end((webhook, key))
        self.hits += 1
        return found[0]

    def put(self, webhook: str, key: bytes, answer: Answer, size: int) -> None:
        if size > min(LARGEST_CACHED_OBJECT, self.max_bytes):
            return
        decision = answer.decision
        if decision is not None and (decision.produced is not None or decision.produced_review is not None):
            answer = replace(answer, decision=without_produced(decision))
        previous = self.answers.pop((webhook, key), None)
        if previous is not None:
            self.bytes -= previous[1]
        self.answers[(webhook, key)] = (answer, size)
        self.bytes += size
        while len(self.answers) > self.capacity or self.bytes > self.max_bytes:
            _, (_, evicted) = self.answers.popitem(last=False)
            self.bytes -= evicted


class AdmissionService:
    """Everything a review needs, without HTTP: the server hands it the path and the body."""

    def __init__(
        self,
        state: ClusterState,
        metrics: Metrics,
        recorder: Callable[[], EventRecorder | None],
        read_namespace: NamespaceReader,
        *,
        cache_capacity: int = 4096,
        rewrite_events: bool = False,
    ) -> None:
        self.state = state
        self.metrics = metrics
        # a pod that names no workload is counted under its namespace only when the view holds that namespace
        metrics.namespace_known = lambda namespace: ("", namespace) in state.raw[NAMESPACE.plural]
        self.recorder = recorder
        self.read_namespace = read_namespace
        self.cache = VerdictCache(cache_capacity)
        self.rewrite_events = rewrite_events
        self._namespace_reads: dict[str, asyncio.Future[None]] = {}
        self._counters: dict[tuple[str, str], Any] = {}
        self._timers: dict[str, Any] = {}
        self._refusals = RateLimitedLog(log)

    # ------------------------------------------------------------------ request parsing
    @staticmethod
    def parse(path: str, body: bytes) -> tuple[AdmissionReview, AdmissionRequest, JSONPatch]:
        """(review, request, patch prefix) of a well-formed review for this path; BadReviewError with the reason
        otherwise. An object without metadata is judged as one with empty metadata; the prefix adds that metadata
        to the object sent, so a patch that writes annotations applies to it."""
        routes = ROUTES.get(path)
        if routes is None:
            raise BadReviewError(f"no webhook is served at /{path}")
        try:
            review = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise BadReviewError(f"the body is not JSON: {error}") from None
        if not isinstance(review, dict):
            raise BadReviewError(f"expected an AdmissionReview object, got {type(review).__name__}")
        request = review.get("request")
        if not isinstance(request, dict):
            raise BadReviewError("not an AdmissionReview: no request")
        if not isinstance(request.get("uid"), str) or not request["uid"]:
            raise BadReviewError("not an AdmissionReview: request.uid is missing")
        resource = request.get("resource")
        if not isinstance(resource, dict) or not all(
            isinstance(resource.get(k), str) for k in ("group", "version", "resource")
        ):
            raise BadReviewError("not an AdmissionReview: request.resource needs group, version and resource")
        if not isinstance(request.get("userInfo"), dict):
            raise BadReviewError("not an AdmissionReview: request.userInfo is missing")
        obj, old = request.get("object"), request.get("oldObject")
        if not isinstance(obj, dict) and not isinstance(old, dict):
            raise BadReviewError("not an AdmissionReview: request.object and request.oldObject are both missing")
        for key, value in (("object", obj), ("oldObject", old)):
            if value is not None and not isinstance(value, dict):
                raise BadReviewError(f"request.{key} must be an object, not {type(value).__name__}")
        sub = request.get("subResource") or ""
        operation = request.get("operation")
        if not isinstance(sub, str) or not isinstance(operation, str):
            raise BadReviewError("not an AdmissionReview: request.operation and request.subResource must be strings")
        route = (resource["group"], resource["resource"], sub)
        operations = routes.get(route)
        where = "/".join(p for p in (resource["resource"], sub) if p)
        if operations is None:
            raise BadReviewError(f"/{path} does not judge {where} ({resource['group'] or 'core'} group)")
        if operation not in operations:
            raise BadReviewError(f"/{path} does not judge {operation} of {where}")
        namespace = request.get("namespace")
        if namespace is not None and not isinstance(namespace, str):
            raise BadReviewError("request.namespace must be a string")
        prefix: JSONPatch = []
        for value in (obj, old):
            if isinstance(value, dict):
                metadata = value.get("metadata")
                if metadata is None:
                    metadata = value["metadata"] = {}
                    if value is obj:
                        prefix = [{"op": "add", "path": "/metadata", "value": {}}]
                if not isinstance(metadata, dict):
                    raise BadReviewError("metadata must be an object")
                for field in _METADATA_STRINGS:
                    if metadata.get(field) is not None and not isinstance(metadata[field], str):
                        raise BadReviewError(f"metadata.{field} must be a string")
                if namespace and not metadata.get("namespace"):
                    metadata["namespace"] = namespace
        # checked as the types say: the parsed JSON itself, neither copied nor validated again
        return cast(AdmissionReview, review), cast(AdmissionRequest, request), prefix

    # ------------------------------------------------------------------ the one API read
    async def learn_namespace(self, namespace: str) -> None:
        """Read a namespace the view has not seen, once: concurrent reviews share the read, later ones skip it."""
        pending = self._namespace_reads.get(namespace)
        if pending is None:
            if len(self._namespace_reads) > 10_000:  # forged names must not grow this without bound
                self._namespace_reads.clear()
            pending = self._namespace_reads[namespace] = asyncio.ensure_future(self._read(namespace))
        await asyncio.shield(pending)

    async def _read(self, namespace: str) -> None:
        try:
            found = await self.read_namespace(namespace)
        except Exception as error:  # the judgement goes on with the name label only; say so
            log.warning("could not read namespace %s: %r", namespace, error)
            return
        if found is not None:
            self.state.upsert(NAMESPACE.plural, found)

    # ------------------------------------------------------------------ serving
    async def review(self, path: str, body: bytes) -> Reply:
        answer = self.review_now(path, body)
        return answer if isinstance(answer, Reply) else await answer

    def review_now(self, path: str, body: bytes) -> Reply | Awaitable[Reply]:
        """The reply to the review `body` sent to /path, at once; an awaitable of it when the review names a
        namespace the view has never seen, which is read first (once)."""
        try:
            review, request, prefix = self.parse(path, body)
        except BadReviewError as error:
            self._count(path, "bad-request")
            return _bad(str(error))
        obj = request.get("object")
        # parse checked that one of the two is an object
        target = obj if isinstance(obj, dict) else cast("dict[str, Any]", request["oldObject"])
        namespace = str(target["metadata"].get("namespace") or "")
        if (
            namespace
            and ("", namespace) not in self.state.raw[NAMESPACE.plural]
            and path not in _NO_NAMESPACE_READ
            and is_dns_label(namespace)  # a name no namespace can have is neither read nor remembered
        ):
            return self._after_reading(namespace, path, review, request, prefix)
        return self._judged(path, review, request, prefix)

    async def _after_reading(
        self, namespace: str, path: str, review: AdmissionReview, request: AdmissionRequest, prefix: JSONPatch
    ) -> Reply:
        await self.learn_namespace(namespace)
        return self._judged(path, review, request, prefix)

    def _judged(self, path: str, review: AdmissionReview, request: AdmissionRequest, prefix: JSONPatch) -> Reply:
        try:
            answer = self.answer(path, request)
        except NestingTooDeepError as error:  # a caller that is not the API server, maybe many times a second
            self._count(path, "too-deep")
            self._refusals.warning("refused a review at /%s: %s", path, error)
            return _bad(f"ModelRoute refuses this review: {error}")
        except Exception as error:  # a bug must read as a clear refusal, never as a 500 with a traceback
            log.exception("could not judge a review at /%s", path)
            self._count(path, "error")
            answer = Answer(False, message=f"ModelRoute could not judge this object: {type(error).__name__}")
            return self.reply(review, answer, code=500)
        return self.reply(review, answer, code=_CODES.get(path, 403), prefix=prefix)

    def answer(self, path: str, request: AdmissionRequest) -> Answer:
        obj = request.get("object")
        dry_run = bool(request.get("dryRun"))
        if path == cfg.VALIDATE_RESOURCES:
            target = obj if isinstance(obj, dict) else cast("dict[str, Any]", request["oldObject"])
            return validate_resource(target, str(request.get("operation")), self.state.context())
        if path == cfg.VALIDATE_CONFIG_MAPS:
            return self._config_map_write(request)
        assert isinstance(obj, dict)
        if path == cfg.VALIDATE_CONTROLLERS and template_unchanged(request.get("oldObject"), obj):
            self._count(path, "unchanged-template")
            return Answer(True)
        if not self.state.ready:
            self._count(path, "not-synced")
            if path == cfg.MUTATE_PODS:
                return Answer(True)
            return Answer(False, message=NOT_SYNCED, code=503)
        if path != cfg.VALIDATE_CONTROLLERS and not request.get("subResource") and is_enforcement_probe(obj):
            self._count(path, "probe")
            return probe_mutation(obj) if path == cfg.MUTATE_PODS else probe_validation(obj)
        started = time.perf_counter()
        context = self.state.context()
        self.cache.bind(context)
        namespace = str(obj["metadata"].get("namespace") or "default")
        key, size = sized_content_key(namespace, obj)
        answer = self.cache.get(path, key)
        if answer is None:
            answer = mutate(obj, context) if path == cfg.MUTATE_PODS else self._validate(key, obj, context)
            self.cache.put(path, key, answer, size)
            if path == cfg.MUTATE_PODS:
                # after this answer is written, not before: the mutating call's latency stays one judgement
                asyncio.get_running_loop().call_soon(
                    self._expect_validation, namespace, obj, key, size, answer, context
                )
        self._time(path, time.perf_counter() - started)
        self._account(path, answer, obj, namespace, dry_run)
        return answer

    def _config_map_write(self, request: AdmissionRequest) -> Answer:
        """A ConfigMap UPDATE or DELETE, judged by the running pods the index says read it: a write no pod reads
        costs a lookup. Read-only: the answer never carries a patch."""
        path = cfg.VALIDATE_CONFIG_MAPS
        old, new = request.get("oldObject"), request.get("object")
        target = old if isinstance(old, dict) else new
        assert isinstance(target, dict)
        namespace = str(target["metadata"].get("namespace") or request.get("namespace") or "")
        name = str(target["metadata"].get("name") or request.get("name") or "")
        deleted = request.get("operation") == "DELETE"
        before = config_map_data(old) if isinstance(old, dict) else None
        after = None if deleted or not isinstance(new, dict) else config_map_data(new)
        if not self.state.ready:  # failing open: the audit judges the pods once the view is read
            self._count(path, "not-synced")
            return Answer(True)
        if before == after:
            self._count(path, "unchanged-data")
            return Answer(True)
        readers = self.state.readers_of(namespace, name)
        if not readers:
            self._count(path, "no-readers")
            return Answer(True)
        started = time.perf_counter()
        pods = [pod for key in readers if (pod := self.state.raw[POD.plural].get(key)) is not None]
        verdict = judge_config_map_edit(pods, namespace, name, before, after, self.state.context())
        self._time(path, time.perf_counter() - started)
        if not verdict.allowed:
            self._count(path, "denied")
            return Answer(False, message=verdict.message)
        self._count(path, "warned" if verdict.warnings else "allowed")
        return Answer(True, warnings=verdict.warnings)

    def _expect_validation(
        self, namespace: str, obj: Mapping[str, Any], key: bytes, size: int, answer: Answer, context: PolicyContext
    ) -> None:
        """Judge the pod this answer produces now (`obj`, of content key `key`, when there is no patch), so the
        validating call for it is a lookup. The key is the produced content: if anything else changes the pod in
        between, the validating call judges it afresh."""
        mutation = answer.decision
        if context is not self.cache.context or mutation is None or mutation.produced_review is None:
            return
        if mutation.produced is not None:
            key, size = sized_content_key(namespace, mutation.produced)
        if (cfg.VALIDATE_PODS, key) in self.cache.answers or size > LARGEST_CACHED_OBJECT:
            return
        produced = obj if mutation.produced is None else mutation.produced
        validation = self._remember(key, produced, validate_produced(mutation), context)
        self.cache.put(cfg.VALIDATE_PODS, key, validation, size)

    def _validate(self, key: bytes, obj: Mapping[str, Any], context: PolicyContext) -> Answer:
        return self._remember(key, obj, validate(obj, context), context)

    def _remember(self, key: bytes, obj: Mapping[str, Any], answer: Answer, context: PolicyContext) -> Answer:
        """A pod's validating decision is kept for the audit, which will find the pod stored as judged."""
        if answer.decision is not None and obj.get("kind") == "Pod":
            self.state.judgements.put(context, key, answer.decision)
        return answer

    def _account(self, path: str, answer: Answer, obj: Mapping[str, Any], namespace: str, dry_run: bool) -> None:
        decision = answer.decision
        if path == cfg.MUTATE_PODS:
            self._count(path, "patched" if answer.patch else "unchanged")
            if self.rewrite_events and decision is not None and decision.outcome is Outcome.REWRITTEN:
                self._event(answer, obj, namespace, dry_run)
            return
        result = "denied" if not answer.allowed else (str(decision.outcome) if decision else "allowed")
        self._count(path, result)
        if decision is not None:
            channel = decision.annotations.get(PROCUREMENT_CHANNEL, "")
            labels = (path, namespace, decision.workload or "", channel, decision.endpoint or "", decision.outcome)
            self.metrics.decisions.inc(labels)
        for violation in decision.violations if decision else ():
            self.metrics.admission_violations.labels(path, str(violation.code)).inc()
        if decision is None or decision.outcome is not Outcome.REWRITTEN:
            self._event(answer, obj, namespace, dry_run)

    def _event(self, answer: Answer, obj: Mapping[str, Any], namespace: str, dry_run: bool) -> None:
        recorder = self.recorder()
        # no Event about an object in a namespace that cannot exist: its name is the caller's, of any length
        if dry_run or recorder is None or not needs_event(answer.decision) or not is_dns_label(namespace):
            return
        decision = answer.decision
        assert decision is not None
        if decision.outcome is Outcome.DENIED:
            message = "; ".join(f"[{v.code}] {v.message}" for v in decision.violations)
            recorder.record(obj, namespace, "Warning", "RouteDenied", message)
        elif decision.outcome is Outcome.WARNED:
            recorder.record(obj, namespace, "Warning", "RouteViolation", "; ".join(decision.warnings))
        elif decision.outcome is Outcome.REWRITTEN:
            message = f"endpoint settings rewritten to AzureEndpoint {decision.endpoint}"
            recorder.record(obj, namespace, "Normal", "RouteRewritten", message)

    def _count(self, path: str, result: str) -> None:
        if path not in ROUTES:  # the URL is the caller's: a label value only when it is a path ModelRoute serves
            path = OTHER
        counter = self._counters.get((path, result))
        if counter is None:
            counter = self._counters[(path, result)] = self.metrics.admission_requests.labels(path, result)
        counter.inc()

    def _time(self, path: str, seconds: float) -> None:
        timer = self._timers.get(path)
        if timer is None:
            timer = self._timers[path] = self.metrics.admission_seconds.labels(path)
        timer.observe(seconds)

    @staticmethod
    def reply(review: AdmissionReview, answer: Answer, *, code: int, prefix: Sequence[dict[str, Any]] = ()) -> Reply:
        request = review["request"]
        response: AdmissionResponse = {"uid": request["uid"], "allowed": answer.allowed}
        if answer.warnings:
            response["warnings"] = list(answer.warnings)
        if answer.patch:
            response["patch"] = base64.b64encode(orjson.dumps([*prefix, *answer.patch])).decode("ascii")
            response["patchType"] = "JSONPatch"
        if not answer.allowed:
            response["status"] = {"message": answer.message, "code": answer.code or code}
        api_version, kind = review.get("apiVersion"), review.get("kind")
        out: AdmissionReviewResponse = {
            "apiVersion": api_version if isinstance(api_version, str) and api_version else "admission.k8s.io/v1",
            "kind": kind if isinstance(kind, str) and kind else "AdmissionReview",
            "response": response,
        }
        return Reply(200, orjson.dumps(out))


#: the status code inside a denial, per webhook: a judgement (403) or a resource the schema cannot express (422)
_CODES = {cfg.VALIDATE_RESOURCES: 422}
#: paths whose answer never depends on a namespace the view has not seen (a ConfigMap's readers are pods the
#: view holds, and their namespaces with them)
_NO_NAMESPACE_READ = frozenset({cfg.VALIDATE_RESOURCES, cfg.VALIDATE_CONFIG_MAPS})
