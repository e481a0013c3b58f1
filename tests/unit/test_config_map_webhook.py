"""The ConfigMap webhook: UPDATE and DELETE judged by the running pods the cluster view's index names, and
nothing more for a ConfigMap no pod reads."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import jsonpatch
import orjson
import pytest
from tests.bench import world

from modelroute.admission import configurations as cfg
from modelroute.admission.webhooks import AdmissionService
from modelroute.cluster.state import ClusterState
from modelroute.engine import config_map_edits
from modelroute.engine.evaluate import evaluate
from modelroute.observability import Metrics

NAMESPACE = "team-00"
CONFIG_MAPS = ("", "v1", "configmaps")


def config_map(name: str = "chat-env", **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NAMESPACE}, "data": data}


def running_pod(name: str, config_map_name: str = "chat-env") -> dict[str, Any]:
    """A covered pod that loads a ConfigMap with envFrom, as admission stored it."""
    body = world.covered_pod()
    body["metadata"]["name"] = name
    body["spec"]["containers"][0]["envFrom"] = [{"configMapRef": {"name": config_map_name}}]
    return body


def service(enforcement: str = "Enforce", pods: int = 2) -> AdmissionService:
    state = ClusterState(operator_namespace="modelroute-system")
    bodies = world.cluster_bodies()
    bodies["routepolicies"] = [world.policy_body(enforcement=enforcement)]
    bodies["configmaps"] = [config_map(LOG_LEVEL="info"), config_map("unrelated", A="1")]
    for plural, items in bodies.items():
        state.replace_all(plural, items)
    context = state.context()
    admitted = []
    for i in range(pods):
        decision = evaluate(running_pod(f"chat-{i}"), context)
        assert decision.allowed
        admitted.append(jsonpatch.apply_patch(running_pod(f"chat-{i}"), decision.patch))
    state.replace_all("pods", admitted)
    return AdmissionService(state, Metrics(), lambda: None, _no_read)


async def _no_read(name: str) -> dict[str, Any] | None:
    raise AssertionError(f"a ConfigMap review read namespace {name}")


def send(svc: AdmissionService, review: dict[str, Any]) -> dict[str, Any]:
    reply = asyncio.run(svc.review(cfg.VALIDATE_CONFIG_MAPS, orjson.dumps(review)))
    assert reply.status == 200, reply.body
    response: dict[str, Any] = orjson.loads(reply.body)["response"]
    return response


def update(old: dict[str, Any], **data: str) -> dict[str, Any]:
    new = copy.deepcopy(old)
    new["data"] = {**old["data"], **data}
    return world.review(new, operation="UPDATE", resource=CONFIG_MAPS, old=old)


def test_an_edit_that_points_a_running_pod_at_openai_is_refused_naming_the_pod() -> None:
    answer = send(service(), update(config_map(LOG_LEVEL="info"), OPENAI_API_BASE=world.DIRECT_BASE))
    assert answer["allowed"] is False
    message = answer["status"]["message"]
    assert "ConfigMap team-00/chat-env" in message
    assert "chat-0, chat-1" in message
    assert "[EndpointNotApproved]" in message
    assert "patch" not in answer  # read-only


def test_under_warn_the_edit_is_admitted_with_warnings() -> None:
    answer = send(service("Warn"), update(config_map(LOG_LEVEL="info"), OPENAI_API_BASE=world.DIRECT_BASE))
    assert answer["allowed"] is True
    assert any("chat-0" in w for w in answer["warnings"])
    assert any("[EndpointNotApproved]" in w for w in answer["warnings"])


def test_under_audit_the_edit_is_admitted_silently() -> None:
    answer = send(service("Audit"), update(config_map(LOG_LEVEL="info"), OPENAI_API_BASE=world.DIRECT_BASE))
    assert answer["allowed"] is True
    assert "warnings" not in answer


def test_an_edit_that_opens_no_route_is_admitted() -> None:
    answer = send(service(), update(config_map(LOG_LEVEL="info"), LOG_LEVEL="debug"))
    assert answer == {"uid": answer["uid"], "allowed": True}


def test_deleting_a_config_map_its_pods_still_load_is_admitted() -> None:
    review = world.review(None, operation="DELETE", resource=CONFIG_MAPS, old=config_map(LOG_LEVEL="info"))
    assert send(service(), review)["allowed"] is True


def test_a_write_to_a_config_map_no_pod_reads_costs_a_lookup_and_no_judgement(monkeypatch: pytest.MonkeyPatch) -> None:
    svc = service(pods=50)
    judged: list[object] = []
    real = evaluate

    def counting(*args: Any, **kwargs: Any) -> Any:
        judged.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(config_map_edits, "evaluate", counting)
    context_builds = svc.state.version
    answer = send(svc, update(config_map("unrelated", A="1"), OPENAI_API_BASE=world.DIRECT_BASE))
    assert answer["allowed"] is True
    assert judged == []
    assert svc.state.version == context_builds
    # the 50 replicas of one template are judged once, before and after
    send(svc, update(config_map(LOG_LEVEL="info"), OPENAI_API_BASE=world.DIRECT_BASE))
    assert len(judged) == 2


def test_an_update_that_keeps_the_data_is_not_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    svc = service()
    monkeypatch.setattr(config_map_edits, "evaluate", lambda *a, **k: pytest.fail("judged"))
    old = config_map(LOG_LEVEL="info")
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"touched": "yes"}
    assert send(svc, world.review(new, operation="UPDATE", resource=CONFIG_MAPS, old=old))["allowed"] is True


def test_a_create_is_not_this_webhooks_to_judge() -> None:
    reply = asyncio.run(
        service().review(
            cfg.VALIDATE_CONFIG_MAPS, orjson.dumps(world.review(config_map(), operation="CREATE", resource=CONFIG_MAPS))
        )
    )
    assert reply.status == 400
    assert b"does not judge CREATE of configmaps" in reply.body


def test_the_configuration_fails_open_and_skips_the_clusters_own_writes() -> None:
    options = cfg.WebhookOptions(operator_namespace="modelroute-system")
    hooks = cfg.validating_configuration(lambda p: {"url": p}, options)["webhooks"]
    (hook,) = [h for h in hooks if h["clientConfig"]["url"] == cfg.VALIDATE_CONFIG_MAPS]
    assert hook["failurePolicy"] == "Ignore"
    assert hook["sideEffects"] == "None"
    assert hook["timeoutSeconds"] <= 3
    assert hook["rules"] == [
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["configmaps"],
            "operations": ["UPDATE", "DELETE"],
            "scope": "Namespaced",
        }
    ]
    assert hook["namespaceSelector"] == cfg.namespace_selector("modelroute-system")
    conditions = " ".join(c["expression"] for c in hook["matchConditions"])
    assert "kube-root-ca.crt" in conditions
    assert "system:kube-controller-manager" in conditions
    assert "system:serviceaccount:kube-system:" in conditions
    off = cfg.WebhookOptions(operator_namespace="modelroute-system", config_maps=False)
    urls = [h["clientConfig"]["url"] for h in cfg.validating_configuration(lambda p: {"url": p}, off)["webhooks"]]
    assert cfg.VALIDATE_CONFIG_MAPS not in urls
