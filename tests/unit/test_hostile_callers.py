"""What a caller that is not the API server can do to the request path, and what it cannot: nesting deeper than
the serialiser takes is a 400 logged once a minute and counted, never a traceback per request; the URL path and
the namespace a review names never grow a label set or a memo without bound."""

from __future__ import annotations

import datetime
import logging
from dataclasses import replace
from typing import Any

import orjson
import pytest
from prometheus_client import generate_latest
from tests.bench import world
from tests.unit.test_webhooks import Harness

from modelroute.admission import configurations as cfg
from modelroute.admission.webhooks import LARGEST_CACHED_OBJECT, VERDICT_CACHE_BYTES
from modelroute.api.meta import DNS_LABEL_MAX
from modelroute.cluster.events import event_body
from modelroute.engine.clients import canonical_name
from modelroute.engine.evaluate import evaluate
from modelroute.engine.judgements import SERIALISED_DEPTH
from modelroute.memo import LONGEST_MEMO_KEY
from modelroute.observability import RateLimitedLog

DEEP = "<nested>"


def with_nesting(review: dict[str, Any], depth: int = SERIALISED_DEPTH + 10) -> bytes:
    """The review's JSON with every DEEP string replaced by lists and objects nested `depth` levels: written
    as text, since no serialiser writes what the test means the server to refuse."""
    levels = ['{"a":' if level % 2 else "[" for level in range(depth)]
    deep = "".join(levels) + '"x"' + "".join("}" if level % 2 else "]" for level in reversed(range(depth)))
    return orjson.dumps(review).replace(orjson.dumps(DEEP), deep.encode())


def deep_pod() -> dict[str, Any]:
    pod = world.covered_pod()
    pod["spec"]["containers"][0]["env"].append({"name": "X", "valueFrom": DEEP})
    return pod


def count(harness: Harness, webhook: str, result: str) -> float:
    text = generate_latest(harness.service.metrics.registry).decode()
    line = f'modelroute_admission_requests_total{{result="{result}",webhook="{webhook}"}} '
    found = [row for row in text.splitlines() if row.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


@pytest.mark.parametrize("path", [cfg.MUTATE_PODS, cfg.VALIDATE_PODS])
def test_an_object_nested_deeper_than_the_serialiser_takes_is_refused_with_a_400_that_says_so(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    harness = Harness()
    with caplog.at_level(logging.DEBUG):
        reply = harness.send(path, with_nesting(world.review(deep_pod())))
    assert reply.status == 400
    assert f"nested deeper than {SERIALISED_DEPTH} levels" in reply.body.decode()
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert count(harness, path, "too-deep") == 1


def test_a_controller_update_nested_deeper_than_python_compares_is_refused_too() -> None:
    harness = Harness()
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "team-00"},
        "spec": {"template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"x": DEEP}]}}},
    }
    review = world.review(deployment, resource=("apps", "v1", "deployments"), operation="UPDATE")
    review["request"]["oldObject"] = deployment
    reply = harness.send(cfg.VALIDATE_CONTROLLERS, with_nesting(review, 1000))
    assert reply.status == 400, reply.body
    assert count(harness, cfg.VALIDATE_CONTROLLERS, "too-deep") == 1


def test_a_flood_of_deep_reviews_is_one_log_line_a_minute_and_every_one_is_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    harness = Harness()
    body = with_nesting(world.review(deep_pod()))
    with caplog.at_level(logging.WARNING):
        for _ in range(50):
            assert harness.send(cfg.VALIDATE_PODS, body).status == 400
    assert len([r for r in caplog.records if "refused a review" in r.getMessage()]) == 1
    assert count(harness, cfg.VALIDATE_PODS, "too-deep") == 50


def test_a_rate_limited_warning_says_how_many_it_held_back(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    limited = RateLimitedLog(logging.getLogger("modelroute.test"), interval=60, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        for second in range(0, 130, 10):
            now[0] = second
            limited.warning("refused %s", "it")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "refused it",
        "refused it (and 5 more like it in the last 60 s)",
        "refused it (and 5 more like it in the last 60 s)",
    ]


def test_an_envelope_field_of_any_shape_is_never_echoed_into_the_answer() -> None:
    harness = Harness()
    review = world.review(world.plain_pod()) | {"apiVersion": DEEP, "kind": ["x"]}
    reply = harness.send(cfg.VALIDATE_PODS, with_nesting(review, 600))
    assert reply.status == 200
    answer = orjson.loads(reply.body)
    assert (answer["apiVersion"], answer["kind"]) == ("admission.k8s.io/v1", "AdmissionReview")


def test_paths_modelroute_does_not_serve_are_counted_under_one_label() -> None:
    harness = Harness()
    for index in range(20):
        assert harness.send(f"forged-{index}", world.review(world.plain_pod())).status == 400
    assert count(harness, "other", "bad-request") == 20
    assert "forged-" not in generate_latest(harness.service.metrics.registry).decode()


def test_a_namespace_that_cannot_exist_is_never_read_nor_remembered() -> None:
    harness = Harness()
    for name in ("x" * 64, "Upper", "a/b", "x" * 100_000, ""):
        harness.send(cfg.VALIDATE_PODS, world.review(world.plain_pod(name)))
    assert harness.reads == []
    assert harness.service._namespace_reads == {}


def _pod_of_size(size: int, salt: str) -> dict[str, Any]:
    pod = world.covered_pod()
    pod["metadata"]["annotations"] = {"example.com/notes": "x" * size, "example.com/salt": salt}
    return pod


def test_the_answer_about_an_object_larger_than_the_cache_keeps_is_not_kept() -> None:
    harness = Harness()
    for index in range(3):
        harness.send(cfg.MUTATE_PODS, world.review(_pod_of_size(LARGEST_CACHED_OBJECT + 1, str(index))))
        harness.send(cfg.VALIDATE_PODS, world.review(_pod_of_size(LARGEST_CACHED_OBJECT + 1, str(index))))
    assert len(harness.service.cache.answers) == 0
    assert harness.service.cache.bytes == 0


def test_the_verdict_cache_holds_no_more_than_its_bytes_however_many_distinct_pods_it_sees() -> None:
    harness = Harness()
    for index in range(3 * VERDICT_CACHE_BYTES // (512 * 1024)):
        harness.send(cfg.VALIDATE_PODS, world.review(_pod_of_size(512 * 1024, str(index))))
    cache = harness.service.cache
    assert 0 < cache.bytes <= VERDICT_CACHE_BYTES
    assert cache.bytes == sum(size for _, size in cache.answers.values())
    assert len(cache.answers) < VERDICT_CACHE_BYTES // (512 * 1024)


def test_a_kept_answer_does_not_hold_the_pod_its_patch_produces_nor_what_was_read_of_it() -> None:
    harness = Harness()
    harness.send(cfg.MUTATE_PODS, world.review(world.covered_pod()))
    harness.send(cfg.MUTATE_PODS, world.review(world.plain_pod()))
    kept = [answer.decision for answer, _ in harness.service.cache.answers.values()]
    assert len(kept) == 4  # each mutating answer, and the validating answer for the pod it produces
    assert all(d is not None and d.produced is None and d.produced_review is None for d in kept)


def test_the_judgements_kept_for_the_audit_are_bounded_in_bytes() -> None:
    harness = Harness()
    judgements = harness.state.judgements
    judgements.max_bytes = 64 * 1024
    context = harness.state.context()
    decision = evaluate(world.violating_pod(), context)
    long = replace(decision, warnings=("w" * 10_000,))
    for index in range(100):
        judgements.put(context, index.to_bytes(4, "big"), long)
    assert 0 < judgements.bytes <= judgements.max_bytes
    assert len(judgements) <= judgements.max_bytes // 10_000


def test_memos_keep_only_short_strings() -> None:
    canonical_name.cache.cache_clear()  # type: ignore[attr-defined]
    for index in range(50):
        canonical_name("OPENAI_" + "X" * (LONGEST_MEMO_KEY + index))
    canonical_name("OPENAI_BASE_URL")
    assert canonical_name.cache.cache_info().currsize == 1  # type: ignore[attr-defined]
    assert canonical_name("a_b" * LONGEST_MEMO_KEY) == "AB" * LONGEST_MEMO_KEY


def test_an_event_about_a_forged_object_carries_only_what_a_real_object_could() -> None:
    forged = {"apiVersion": {"a": ["b"]}, "kind": ["Pod"], "metadata": {"name": "p" * 100_000}}
    body = event_body(forged, "team-00", "Warning", "RouteDenied", "denied", datetime.datetime.now(datetime.UTC))
    reference = body["involvedObject"]
    assert (reference["apiVersion"], reference["kind"], len(reference["name"])) == ("v1", "", 253)
    assert len(body["metadata"]["generateName"]) == 254


def test_the_policy_memo_of_a_context_keeps_only_names_a_namespace_can_have() -> None:
    harness = Harness()
    for index in range(20):
        harness.send(cfg.VALIDATE_PODS, world.review(world.plain_pod(f"{index}-" + "n" * 10_000)))
    context = harness.state.context()
    assert all(len(name) <= DNS_LABEL_MAX for name in context._policy_cache)


def test_no_event_is_recorded_about_an_object_in_a_namespace_that_cannot_exist() -> None:
    harness = Harness()
    for name in ("n" * 100_000, "Not-A-Label"):
        reply = harness.send(cfg.VALIDATE_PODS, world.review(world.violating_pod(name)))
        assert reply.status == 200
    harness.send(cfg.VALIDATE_PODS, world.review(world.violating_pod()))
    assert [namespace for namespace, _ in harness.recorded.events] == ["team-00"]
