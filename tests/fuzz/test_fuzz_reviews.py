"""Fuzzed AdmissionReviews sent to a real WebhookServer over TLS: whatever the body, never a 5xx and never a
traceback in the log; a malformed review gets a 400 that says why; and a well-formed review gets the
engine's verdict on the same object with the same context (a Pod through the mutating call, its patch
applied, then the validating call, as the API server chains them).

Every test run includes a bounded smoke (40 examples per property, fixed seed); a long run:

    MODELROUTE_FUZZ_EXAMPLES=5000 python -m pytest tests/fuzz
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonpatch
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzz import test_fuzz_check as manifests
from tests.unit.webhook_server import Client, serving

from modelroute.admission import configurations as cfg
from modelroute.api import kinds
from modelroute.cluster.state import WATCHED, ClusterState
from modelroute.engine.evaluate import evaluate
from modelroute.engine.judgements import SERIALISED_DEPTH
from modelroute.engine.podspec import NotAPodError

NAMESPACES = ("default", "kube-system", "other")
CONTROLLER_RESOURCES = {k.kind: (k.group, k.plural) for k in kinds.POD_CONTROLLER_KINDS}


def cluster_state(bodies: list[dict[str, Any]]) -> ClusterState:
    """A cluster view that holds `bodies` and the namespaces NAMESPACES, ready as after its first lists."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for body in bodies:
        by_kind.setdefault(body["kind"], []).append(body)
    by_kind["Namespace"] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": {"kubernetes.io/metadata.name": n}}}
        for n in NAMESPACES
    ]
    state = ClusterState(operator_namespace="modelroute-system")
    plural_of = {k.plural: k.kind for k in kinds.WATCHED_KINDS}
    for plural in WATCHED:
        state.replace_all(plural, by_kind.get(plural_of[plural], []))
    assert state.ready
    return state


class Logged(logging.Handler):
    """Every record that carries a traceback, or says ERROR or worse."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.bad: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.bad.append(self.format(record))


class Webhook:
    def __init__(self, client: Client, state: ClusterState, logged: Logged) -> None:
        self.client, self.state, self.logged = client, state, logged

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        status, reply = self.client.post(path, body)
        assert status < 500, (status, reply[:500])
        assert self.logged.bad == [], self.logged.bad
        return status, reply


@pytest.fixture(scope="module")
def webhook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webhook]:
    logged = Logged()
    root = logging.getLogger()
    root.addHandler(logged)
    state = cluster_state(manifests.CONTEXT)
    try:
        with serving(Path(tmp_path_factory.mktemp("fuzz-reviews")), state=state) as served:
            yield Webhook(served.client(), state, logged)
    finally:
        root.removeHandler(logged)


def _json(value: Any) -> bytes:
    # the standard library's encoder: integers beyond 64 bits are valid JSON the API server could relay
    return json.dumps(value).encode()


def review(obj: Any, *, group: str = "", resource: str = "pods", sub: str = "", operation: str = "CREATE") -> Any:
    namespace = obj.get("metadata", {}).get("namespace") if isinstance(obj, dict) else None
    request: dict[str, Any] = {
        "uid": str(uuid.uuid4()),
        "kind": {"group": group, "version": "v1", "kind": "Pod"},
        "resource": {"group": group, "version": "v1", "resource": resource},
        "operation": operation,
        "userInfo": {"username": "fuzz"},
        "object": obj,
        "namespace": namespace if isinstance(namespace, str) else "default",
    }
    if sub:
        request["subResource"] = sub
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def response_of(status: int, reply: bytes) -> dict[str, Any]:
    assert status == 200, reply[:500]
    out: dict[str, Any] = orjson.loads(reply)["response"]
    return out


def expected_allowed(obj: dict[str, Any], webhook: Webhook) -> bool:
    try:
        return evaluate(obj, webhook.state.context()).allowed
    except NotAPodError:
        return False


def _with_namespace(obj: dict[str, Any]) -> dict[str, Any]:
    # the API server always sends the namespace it stores the object in
    metadata = obj["metadata"]
    if not isinstance(metadata.get("namespace"), str) or not metadata["namespace"]:
        metadata["namespace"] = "default"
    return obj


@manifests.fuzz
@given(manifests.objects.map(_with_namespace))
def test_a_well_formed_review_gets_the_engines_verdict(webhook: Webhook, obj: dict[str, Any]) -> None:
    expected = expected_allowed(obj, webhook)
    if obj["kind"] != "Pod":
        group, resource = CONTROLLER_RESOURCES[obj["kind"]]
        body = _json(review(obj, group=group, resource=resource))
        assert response_of(*webhook.post(cfg.VALIDATE_CONTROLLERS, body))["allowed"] is expected
        return
    mutated = response_of(*webhook.post(cfg.MUTATE_PODS, _json(review(obj))))
    assert mutated["allowed"] is True  # denials are the validating call's
    pod = obj
    if "patch" in mutated:
        pod = jsonpatch.apply_patch(obj, orjson.loads(base64.b64decode(mutated["patch"])))
    validated = response_of(*webhook.post(cfg.VALIDATE_PODS, _json(review(pod))))
    assert validated["allowed"] is expected
    if not expected:
        assert validated["status"]["message"]


def _without(review_body: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    target = review_body
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return review_body


def _replaced(review_body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    target = review_body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return review_body


REQUIRED = [("request",), ("request", "uid"), ("request", "resource"), ("request", "userInfo"), ("request", "object")]
TYPED = [
    ("request",),
    ("request", "uid"),
    ("request", "resource"),
    ("request", "resource", "resource"),
    ("request", "userInfo"),
    ("request", "object"),
    ("request", "operation"),
    ("request", "subResource"),
    ("request", "namespace"),
    ("request", "object", "metadata"),
]
# truthy: an absent or empty optional field is no error
wrong_types = st.one_of(
    st.integers(min_value=1), st.lists(st.integers(), min_size=1, max_size=2), st.just(True), st.just(0.5)
)
pods = manifests.objects.filter(lambda o: o["kind"] == "Pod").map(_with_namespace)
missing_field = st.builds(lambda obj, path: _without(review(obj), path), pods, st.sampled_from(REQUIRED))
wrong_type = st.builds(lambda obj, path, v: _replaced(review(obj), path, v), pods, st.sampled_from(TYPED), wrong_types)
deep = st.integers(min_value=1_100, max_value=20_000).map(lambda n: ('{"request":' + "[" * n + "]" * n + "}").encode())
not_json = st.one_of(
    st.binary(max_size=200).filter(lambda b: not _is_json_object(b)),
    st.text(max_size=200).map(str.encode).filter(lambda b: not _is_json_object(b)),
    st.just(b""),
    st.just(b'{"request": {"uid": "x"'),
)


def _is_json_object(body: bytes) -> bool:
    try:
        return isinstance(orjson.loads(body), dict)
    except orjson.JSONDecodeError:
        return False


not_a_review = st.one_of(manifests.json_values.filter(lambda v: not isinstance(v, dict)).map(_json), deep, not_json)


def _assert_400(webhook: Webhook, path: str, body: bytes) -> None:
    status, reply = webhook.post(path, body)
    assert status == 400, reply[:500]
    assert reply.strip()


@manifests.fuzz
@given(missing_field.map(_json), st.sampled_from([cfg.MUTATE_PODS, cfg.VALIDATE_PODS]))
def test_a_review_missing_a_required_field_gets_a_400_that_says_why(webhook: Webhook, body: bytes, path: str) -> None:
    _assert_400(webhook, path, body)


@manifests.fuzz
@given(wrong_type.map(_json), st.sampled_from([cfg.MUTATE_PODS, cfg.VALIDATE_PODS]))
def test_a_review_with_a_field_of_the_wrong_type_gets_a_400_that_says_why(
    webhook: Webhook, body: bytes, path: str
) -> None:
    _assert_400(webhook, path, body)


@manifests.fuzz
@given(not_a_review, st.sampled_from([cfg.MUTATE_PODS, cfg.VALIDATE_PODS, cfg.VALIDATE_CONTROLLERS]))
def test_a_body_that_is_not_a_review_gets_a_400_that_says_why(webhook: Webhook, body: bytes, path: str) -> None:
    _assert_400(webhook, path, body)


unrouted = st.sampled_from(
    [
        ("", "pods", "status", "UPDATE"),
        ("", "pods", "exec", "CONNECT"),
        ("", "pods", "binding", "CREATE"),
        ("", "pods", "ephemeralcontainers", "CREATE"),
        ("apps", "deployments", "", "CREATE"),
        ("", "pods", "", "DELETE"),
        ("", "configmaps", "", "CREATE"),
        ("", "pods", "", "UPDATE"),
    ]
)


@manifests.fuzz
@given(pods, unrouted)
def test_a_review_of_a_resource_the_pod_webhooks_do_not_route_gets_a_400(
    webhook: Webhook, obj: dict[str, Any], route: tuple[str, str, str, str]
) -> None:
    group, resource, sub, operation = route
    body = _json(review(obj, group=group, resource=resource, sub=sub, operation=operation))
    for path in (cfg.MUTATE_PODS, cfg.VALIDATE_PODS):
        _assert_400(webhook, path, body)


DEEP = "<nested>"
#: where a hostile caller can nest: what the engine reads, what it does not, and the review's envelope
DEEP_PLACES = [
    ("object", "metadata", "labels"),
    ("object", "metadata", "annotations"),
    ("object", "metadata", "managedFields"),
    ("object", "kind"),
    ("object", "spec"),
    ("object", "spec", "containers", 0, "env"),
    ("object", "spec", "containers", 0, "env", 0, "valueFrom"),
    ("object", "spec", "hostAliases"),
    ("object", "status"),
    ("oldObject",),
    ("userInfo", "extra"),
    ("options",),
]


def _nested_text(depth: int, objects: bool) -> str:
    opening = ['{"a":' if objects and level % 2 else "[" for level in range(depth)]
    closing = ["}" if objects and level % 2 else "]" for level in reversed(range(depth))]
    return "".join(opening) + '"x"' + "".join(closing)


def _place(review_body: dict[str, Any], place: tuple[str | int, ...]) -> bytes:
    target: Any = review_body["request"]
    for step in place[:-1]:
        target = target[step]
    target[place[-1]] = DEEP
    return _json(review_body)


@manifests.fuzz
@given(
    st.sampled_from(DEEP_PLACES),
    st.integers(min_value=200, max_value=1_020),
    st.booleans(),
    st.sampled_from([cfg.MUTATE_PODS, cfg.VALIDATE_PODS, cfg.VALIDATE_CONTROLLERS, cfg.VALIDATE_RESOURCES]),
)
def test_nesting_the_serialiser_cannot_take_is_refused_with_a_400_or_judged_never_a_traceback(
    webhook: Webhook, place: tuple[str | int, ...], depth: int, objects: bool, path: str
) -> None:
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default", "labels": {"app": "chat"}},
        "spec": {"containers": [{"name": "app", "env": [{"name": "OPENAI_BASE_URL", "value": "https://x.example"}]}]},
    }
    if path == cfg.VALIDATE_CONTROLLERS:
        obj: dict[str, Any] = manifests.workload_object("Deployment", pod["metadata"], pod["spec"])
        body = review(obj, group="apps", resource="deployments", operation="UPDATE")
        body["request"]["oldObject"] = copy.deepcopy(obj)
    elif path == cfg.VALIDATE_RESOURCES:
        obj = {"apiVersion": "modelroute.io/v1alpha1", "kind": "RoutePolicy", "metadata": {"name": "p"}, "spec": {}}
        body = review(obj, group="modelroute.io", resource="routepolicies")
    else:
        body = review(pod)
    if place[0] == "object" and len(place) > 2 and place[1] != "metadata" and path != cfg.MUTATE_PODS:
        place = place if path == cfg.VALIDATE_PODS else ("object", "spec", "template", *place[1:])
    try:
        _place(body, place)
    except (KeyError, IndexError, TypeError):
        return  # that place is not in this kind of object
    raw = _place(body, place).replace(_json(DEEP), _nested_text(depth, objects).encode())
    status, reply = webhook.post(path, raw)
    assert status in (200, 400), reply[:300]
    if status == 400:
        assert reply.strip()
    judged = place in (("object", "kind"), ("object", "spec")) and path in (cfg.MUTATE_PODS, cfg.VALIDATE_PODS)
    if judged and depth > SERIALISED_DEPTH:
        assert (status, b"nested deeper than" in reply) == (400, True), reply[:300]
