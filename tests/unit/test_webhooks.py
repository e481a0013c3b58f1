"""The admission request path, without an API server: what each webhook path answers, what it refuses with a
400, what it records, and what it never does (rebuild the policy context on a status write, read a namespace
twice, answer a forged route)."""

from __future__ import annotations

import asyncio
import base64
import copy
from pathlib import Path
from typing import Any

import jsonpatch
import orjson
import pytest
from spies import first_arguments
from tests.bench import world

from modelroute.admission import configurations as cfg
from modelroute.admission.review import validate
from modelroute.admission.webhooks import AdmissionService, Reply
from modelroute.api import annotations
from modelroute.cluster import MemoryKube
from modelroute.cluster.events import EventRecorder
from modelroute.cluster.state import ClusterState
from modelroute.engine import audit as audit_module
from modelroute.engine import detection
from modelroute.engine.judgements import content_key
from modelroute.observability import Metrics


class Recorded:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def record(self, involved: Any, namespace: str, kind: str, reason: str, message: str) -> None:
        self.events.append((namespace, reason))


def primed_state(workloads: int = 3, namespaces: int = 1) -> ClusterState:
    state = ClusterState(operator_namespace="modelroute-system")
    for plural, bodies in world.cluster_bodies(workloads, namespaces).items():
        state.replace_all(plural, bodies)
    return state


class Harness:
    def __init__(self, state: ClusterState | None = None, *, rewrite_events: bool = False) -> None:
        self.state = state or primed_state()
        self.recorded = Recorded()
        self.reads: list[str] = []
        self.service = AdmissionService(
            self.state,
            Metrics(),
            lambda: self.recorded,  # type: ignore[arg-type,return-value]
            self._read,
            rewrite_events=rewrite_events,
        )

    async def _read(self, name: str) -> dict[str, Any] | None:
        self.reads.append(name)
        await asyncio.sleep(0.01)
        return world.namespace_body(name)

    def send(self, path: str, body: bytes | dict[str, Any]) -> Reply:
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        return asyncio.run(self.service.review(path, raw))

    def response(self, path: str, review: dict[str, Any]) -> dict[str, Any]:
        reply = self.send(path, review)
        assert reply.status == 200, reply.body
        answer: dict[str, Any] = orjson.loads(reply.body)["response"]
        assert answer["uid"] == review["request"]["uid"]
        return answer


@pytest.fixture
def harness() -> Harness:
    return Harness()


def produced(pod: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    patch = orjson.loads(base64.b64decode(answer["patch"]))
    result: dict[str, Any] = jsonpatch.apply_patch(copy.deepcopy(pod), patch)
    return result


def test_the_mutating_answer_is_the_engines_own_patch(harness: Harness) -> None:
    pod = world.covered_pod()
    answer = harness.response(cfg.MUTATE_PODS, world.review(pod))
    assert answer["allowed"] is True
    assert answer["patchType"] == "JSONPatch"
    after = produced(pod, answer)
    env = {e["name"]: e["value"] for e in after["spec"]["containers"][0]["env"]}
    assert env["OPENAI_BASE_URL"] == world.APPROVED_BASE


def test_the_pod_the_mutating_call_produced_is_judged_before_its_validating_call_arrives(harness: Harness) -> None:
    pod = world.covered_pod()
    after = produced(pod, harness.response(cfg.MUTATE_PODS, world.review(pod)))
    hits = harness.service.cache.hits
    answer = harness.response(cfg.VALIDATE_PODS, world.review(after))
    assert harness.service.cache.hits == hits + 1
    assert answer["allowed"] is validate(after, harness.state.context()).allowed is True


@pytest.mark.parametrize(
    ("pod", "readings"),
    [
        (world.plain_pod(), 1),  # no patch: the validating call judges the very pod the mutating call read
        (world.covered_pod(), 2),  # the pod as sent, then as its patch leaves it
    ],
)
def test_the_two_calls_for_one_pod_read_its_containers_once_per_spec(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, pod: dict[str, Any], readings: int
) -> None:
    read = first_arguments(monkeypatch, detection, "inspect_container")
    answer = harness.response(cfg.MUTATE_PODS, world.review(pod))
    after = produced(pod, answer) if "patch" in answer else pod
    validated = harness.response(cfg.VALIDATE_PODS, world.review(after))
    assert len(read) == readings
    assert validated["allowed"] is validate(after, harness.state.context()).allowed


def test_the_audit_takes_the_validating_decision_of_a_pod_stored_as_judged(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    pod = world.covered_pod()
    after = produced(pod, harness.response(cfg.MUTATE_PODS, world.review(pod)))
    harness.response(cfg.VALIDATE_PODS, world.review(after))
    stored = copy.deepcopy(after)  # as the API server stores it: name, uid and version filled in
    stored["metadata"].update(name="app-0-x1", uid="u-1", resourceVersion="7")
    judged = first_arguments(monkeypatch, audit_module, "evaluate")
    context = harness.state.context()
    result = audit_module.audit([stored], context, judgements=harness.state.judgements)
    assert judged == []
    assert result.pod_counts("team-00", "model-0") == {"matched": 1, "compliant": 1, "violating": 0}
    assert result.findings[0].decision == audit_module.audit([stored], context).findings[0].decision


def test_a_judgement_is_never_served_against_another_policy_context(harness: Harness) -> None:
    pod = world.covered_pod()
    after = produced(pod, harness.response(cfg.MUTATE_PODS, world.review(pod)))
    key = content_key("team-00", after)
    assert harness.state.judgements.get(harness.state.context(), key) is not None
    body = copy.deepcopy(harness.state.raw["azureendpoints"][("", "contoso")])
    body["spec"]["deployments"] = ["other"]
    body["metadata"]["generation"] = 2
    harness.state.upsert("azureendpoints", body)
    assert harness.state.judgements.get(harness.state.context(), key) is None


def test_a_pod_changed_after_mutation_is_judged_afresh(harness: Harness) -> None:
    pod = world.covered_pod()
    after = produced(pod, harness.response(cfg.MUTATE_PODS, world.review(pod)))
    after["spec"]["containers"][0]["env"].append({"name": "OPENAI_BASE_URL", "value": world.DIRECT_BASE})
    answer = harness.response(cfg.VALIDATE_PODS, world.review(after))
    assert answer["allowed"] is False


def test_a_denial_carries_the_engines_message_and_records_one_event(harness: Harness) -> None:
    answer = harness.response(cfg.VALIDATE_PODS, world.review(world.violating_pod()))
    assert answer["allowed"] is False
    assert answer["status"]["code"] == 403
    assert "api.openai.com" in answer["status"]["message"]
    assert harness.recorded.events == [("team-00", "RouteDenied")]


@pytest.mark.parametrize(("rewrite_events", "expected"), [(False, []), (True, [("team-00", "RouteRewritten")])])
def test_a_rewrite_is_recorded_as_an_event_only_when_asked(rewrite_events: bool, expected: list[object]) -> None:
    state = primed_state()
    rewriting = world.policy_body()
    rewriting["spec"]["rewrite"] = True
    state.upsert("routepolicies", rewriting)
    harness = Harness(state, rewrite_events=rewrite_events)
    pod = world.violating_pod()  # pinned to api.openai.com: rewritten to the approved route
    assert harness.response(cfg.MUTATE_PODS, world.review(pod))["patchType"] == "JSONPatch"
    assert harness.recorded.events == expected


def test_a_dry_run_records_no_event(harness: Harness) -> None:
    answer = harness.response(cfg.VALIDATE_PODS, world.review(world.violating_pod(), dry_run=True))
    assert answer["allowed"] is False
    assert harness.recorded.events == []


def test_a_warn_policy_admits_with_warnings() -> None:
    state = primed_state()
    state.replace_all("routepolicies", [world.policy_body(enforcement="Warn")])
    answer = Harness(state).response(cfg.VALIDATE_PODS, world.review(world.violating_pod()))
    assert answer["allowed"] is True
    assert any("api.openai.com" in w for w in answer["warnings"])


def test_ephemeral_containers_are_judged_through_their_subresource(harness: Harness) -> None:
    pod = world.plain_pod()
    pod["metadata"]["labels"]["app"] = "app-0"
    pod["spec"]["ephemeralContainers"] = [
        {"name": "debug", "image": "x", "env": [{"name": "OPENAI_BASE_URL", "value": world.DIRECT_BASE}]}
    ]
    review = world.review(pod, operation="UPDATE", sub_resource="ephemeralcontainers", old=world.plain_pod())
    assert harness.response(cfg.VALIDATE_PODS, review)["allowed"] is False


def test_a_controller_update_that_keeps_its_template_is_not_judged(harness: Harness) -> None:
    bad = _deployment(world.violating_pod())
    scaled = copy.deepcopy(bad)
    scaled["spec"]["replicas"] = 5
    resource = ("apps", "v1", "deployments")
    assert harness.response(cfg.VALIDATE_CONTROLLERS, world.review(bad, resource=resource))["allowed"] is False
    review = world.review(scaled, operation="UPDATE", resource=resource, old=bad)
    assert harness.response(cfg.VALIDATE_CONTROLLERS, review)["allowed"] is True


def _deployment(pod: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": pod["metadata"]["namespace"]},
        "spec": {"template": {"metadata": {"labels": pod["metadata"]["labels"]}, "spec": pod["spec"]}},
    }


@pytest.mark.parametrize(
    ("kind", "resource", "template"),
    [
        ("ReplicationController", ("", "v1", "replicationcontrollers"), ("spec", "template")),
        ("PodTemplate", ("", "v1", "podtemplates"), ("template",)),
    ],
)
def test_a_core_pod_template_is_judged_as_its_pods_will_be(
    harness: Harness, kind: str, resource: tuple[str, str, str], template: tuple[str, ...]
) -> None:
    def holding(pod: dict[str, Any]) -> dict[str, Any]:
        inner: dict[str, Any] = {"metadata": {"labels": pod["metadata"]["labels"]}, "spec": pod["spec"]}
        for step in reversed(template[1:]):
            inner = {step: inner}
        return {"apiVersion": "v1", "kind": kind, "metadata": {"name": "c", "namespace": "team-00"}, template[0]: inner}

    bad = harness.response(cfg.VALIDATE_CONTROLLERS, world.review(holding(world.violating_pod()), resource=resource))
    assert bad["allowed"] is False
    assert "api.openai.com" in bad["status"]["message"]
    good = harness.response(cfg.VALIDATE_CONTROLLERS, world.review(holding(world.covered_pod()), resource=resource))
    assert good["allowed"] is True, good


def test_a_modelroute_resource_the_models_reject_is_refused_with_422(harness: Harness) -> None:
    bad = world.workload_body("w", "team-00", "x")
    bad["spec"]["procurement"] = {"channel": "Somewhere"}
    review = world.review(bad, resource=("modelroute.io", "v1alpha1", "modelworkloads"))
    answer = harness.response(cfg.VALIDATE_RESOURCES, review)
    assert (answer["allowed"], answer["status"]["code"]) == (False, 422)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"this is not json", "not JSON"),
        (b"[1, 2, 3]", "got list"),
        (b"{}", "no request"),
        (b'{"request": {"uid": "u"}}', "request.resource"),
        (b'{"request": {"uid": "u", "resource": {"group": "", "version": "v1", "resource": "pods"}}}', "userInfo"),
        (orjson.dumps(world.review(world.plain_pod()) | {"request": {"uid": 7}}), "uid"),
    ],
    ids=["not-json", "a-list", "empty", "no-resource", "no-user", "uid-not-a-string"],
)
def test_a_malformed_body_gets_a_400_that_says_why(harness: Harness, body: bytes, reason: str) -> None:
    reply = harness.send(cfg.VALIDATE_PODS, body)
    assert reply.status == 400
    assert reason in reply.body.decode()


@pytest.mark.parametrize(
    ("path", "resource", "sub", "operation"),
    [
        (cfg.VALIDATE_PODS, ("", "v1", "pods"), "status", "UPDATE"),
        (cfg.VALIDATE_PODS, ("", "v1", "pods"), "exec", "CONNECT"),
        (cfg.VALIDATE_PODS, ("", "v1", "pods"), "binding", "CREATE"),
        (cfg.VALIDATE_PODS, ("apps", "v1", "deployments"), None, "CREATE"),
        (cfg.MUTATE_PODS, ("", "v1", "pods"), None, "UPDATE"),
        (cfg.VALIDATE_CONTROLLERS, ("", "v1", "secrets"), None, "CREATE"),
        ("no-such-webhook", ("", "v1", "pods"), None, "CREATE"),
    ],
)
def test_a_review_the_configurations_never_route_to_a_path_is_refused(
    harness: Harness, path: str, resource: tuple[str, str, str], sub: str | None, operation: str
) -> None:
    reply = harness.send(
        path, world.review(world.violating_pod(), resource=resource, sub_resource=sub, operation=operation)
    )
    assert reply.status == 400
    assert harness.recorded.events == []


def test_an_unknown_namespace_is_read_once_however_many_reviews_name_it(harness: Harness) -> None:
    async def burst() -> None:
        reviews = [orjson.dumps(world.review(world.plain_pod("new-team"))) for _ in range(20)]
        await asyncio.gather(*(harness.service.review(cfg.VALIDATE_PODS, r) for r in reviews))
        await harness.service.review(cfg.VALIDATE_PODS, reviews[0])

    asyncio.run(burst())
    assert harness.reads == ["new-team"]


def test_a_review_waits_only_when_its_namespace_must_be_read_first(harness: Harness) -> None:
    known = orjson.dumps(world.review(world.covered_pod()))
    unseen = orjson.dumps(world.review(world.plain_pod("new-team")))

    async def both() -> None:
        assert isinstance(harness.service.review_now(cfg.MUTATE_PODS, known), Reply)  # no task, no turn of the loop
        pending = harness.service.review_now(cfg.VALIDATE_PODS, unseen)
        assert not isinstance(pending, Reply)
        assert (await pending).status == 200
        assert isinstance(harness.service.review_now(cfg.VALIDATE_PODS, unseen), Reply)  # read once, known since

    asyncio.run(both())
    assert harness.reads == ["new-team"]


def test_a_forged_namespace_that_does_not_exist_is_read_once() -> None:
    harness = Harness()

    async def missing(name: str) -> None:
        harness.reads.append(name)

    harness.service.read_namespace = missing
    for _ in range(5):
        harness.send(cfg.VALIDATE_PODS, world.review(world.plain_pod("ghost")))
    assert harness.reads == ["ghost"]


def test_a_status_write_does_not_rebuild_the_policy_context() -> None:
    state = primed_state()
    context = state.context()
    body = copy.deepcopy(world.workloads(3, 1)[0])
    body["metadata"]["resourceVersion"] = "99"
    body["status"] = {"observedGeneration": 1, "conditions": []}
    state.upsert("modelworkloads", body)
    assert state.context() is context
    assert state.raw["modelworkloads"][("team-00", "model-0")]["status"]["observedGeneration"] == 1


def test_a_spec_change_rebuilds_the_policy_context() -> None:
    state = primed_state()
    context = state.context()
    body = copy.deepcopy(world.workloads(3, 1)[0])
    body["spec"]["selector"] = {"matchLabels": {"app": "renamed"}}
    state.upsert("modelworkloads", body)
    rebuilt = state.context()
    assert rebuilt is not context
    assert [w.name for w in rebuilt.covering_workloads("team-00", {"app": "renamed"})] == ["model-0"]


def test_a_relist_that_finds_nothing_new_changes_nothing() -> None:
    state = primed_state()
    context = state.context()
    woken: list[str] = []
    state.on_change(woken.append)
    for plural, bodies in world.cluster_bodies(3, 1).items():
        state.replace_all(plural, bodies)
    assert state.context() is context
    assert woken == []


def test_a_relist_drops_what_was_deleted_while_the_watch_was_away() -> None:
    state = primed_state()
    state.replace_all("azureendpoints", [])
    assert state.context().endpoints == {}


def test_repeated_events_are_recorded_once_and_a_flood_is_cut_off() -> None:
    now = [0.0]
    recorder = EventRecorder(MemoryKube(), rate=1.0, burst=5, clock=lambda: now[0])
    pod = world.violating_pod()
    for _ in range(10):
        recorder.record(pod, "team-00", "Warning", "RouteDenied", "the same message")
    assert recorder.queue.qsize() == 1
    for i in range(100):
        recorder.record(pod, "team-00", "Warning", "RouteDenied", f"forged {i}")
    assert recorder.queue.qsize() == 5
    now[0] = 60.0  # the bucket refills and the first message may be said again
    recorder.record(pod, "team-00", "Warning", "RouteDenied", "the same message")
    assert recorder.queue.qsize() == 6


def test_no_access_log_line_is_written_per_review(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    from tests.unit.webhook_server import served

    with caplog.at_level("DEBUG"), served(tmp_path) as client:
        for _ in range(3):
            assert client.post(cfg.VALIDATE_PODS, orjson.dumps(world.review(world.plain_pod())))[0] == 200
    assert not [r for r in caplog.records if r.name.startswith("aiohttp.access")]


def test_a_namespace_read_that_fails_still_gets_an_answer_judged_by_the_name_alone() -> None:
    harness = Harness()

    async def failing(name: str) -> None:
        harness.reads.append(name)
        raise TimeoutError

    harness.service.read_namespace = failing
    answer = harness.response(cfg.VALIDATE_PODS, world.review(world.plain_pod("unseen")))
    assert answer["allowed"] is True  # judged, not refused because the read failed
    assert harness.reads == ["unseen"]


def probe_pod() -> dict[str, Any]:
    pod = world.plain_pod()
    pod["metadata"]["labels"][annotations.ENFORCEMENT_PROBE] = "readiness"
    return pod


def test_an_enforcement_probe_is_marked_by_the_mutating_webhook_and_refused_by_the_validating_one(
    harness: Harness,
) -> None:
    pod = probe_pod()
    marked = produced(pod, harness.response(cfg.MUTATE_PODS, world.review(pod)))
    assert marked["metadata"]["annotations"][annotations.ENFORCEMENT_PROBE] == "mutated"
    answer = harness.response(cfg.VALIDATE_PODS, world.review(marked))
    assert answer["allowed"] is False
    assert answer["status"]["message"] == f"{annotations.ENFORCEMENT_PROBE_REFUSAL} (mutated: yes)"


def test_an_enforcement_probe_that_missed_the_mutating_webhook_says_so(harness: Harness) -> None:
    answer = harness.response(cfg.VALIDATE_PODS, world.review(probe_pod()))
    assert answer["status"]["message"] == f"{annotations.ENFORCEMENT_PROBE_REFUSAL} (mutated: no)"


def test_an_enforcement_probe_is_not_answered_as_one_before_the_cluster_is_read() -> None:
    harness = Harness(ClusterState(operator_namespace="modelroute-system"))
    answer = harness.response(cfg.VALIDATE_PODS, world.review(probe_pod()))
    assert answer["allowed"] is False
    assert annotations.ENFORCEMENT_PROBE_REFUSAL not in answer["status"]["message"]


def test_pod_templates_that_differ_only_in_their_template_are_different_content() -> None:
    def template(pod: dict[str, Any]) -> dict[str, Any]:
        return {"kind": "PodTemplate", "metadata": {"name": "t"}, "template": {"spec": pod["spec"]}}

    assert content_key("team-00", template(world.covered_pod())) != content_key(
        "team-00", template(world.violating_pod())
    )
