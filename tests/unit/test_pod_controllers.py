"""Pod controllers are judged on their template, exactly as their pods will be admitted."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from builders import codes, container, context, deployment, judge, pod

from modelroute.engine.evaluate import evaluate
from modelroute.engine.podspec import NotAPodError

DIRECT = {"OPENAI_BASE_URL": "https://api.openai.com/v1"}


def _wrap(kind: str, template: dict[str, Any]) -> dict[str, Any]:
    body = {"selector": {"matchLabels": template["metadata"]["labels"]}, "template": template}
    if kind == "CronJob":
        return {
            "apiVersion": "batch/v1",
            "kind": kind,
            "metadata": {"name": "c", "namespace": "apps"},
            "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": template}}},
        }
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "c", "namespace": "apps"}, "spec": body}


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"])
def test_each_controller_kind_is_judged_by_its_template(kind: str) -> None:
    template = {"metadata": {"labels": {"app": "chat"}}, "spec": {"containers": [container(env=DIRECT)]}}
    decision = judge(_wrap(kind, template))
    assert codes(decision) == ["EndpointNotApproved"]
    assert decision.violations[0].field is not None
    assert decision.violations[0].field.endswith("template.spec.containers[0].env[0]")


@pytest.mark.parametrize("kind", ["Deployment", "CronJob"])
def test_a_compliant_template_is_admitted_as_its_mutated_pods_would_be(kind: str) -> None:
    template = {"metadata": {"labels": {"app": "chat"}}, "spec": {"containers": [container()]}}
    decision = judge(_wrap(kind, template))
    assert decision.allowed
    assert decision.patch == []


def test_template_and_pod_get_the_same_verdict() -> None:
    p = pod(container(env={"OPENAI_API_KEY": "k"}), app="nobody")
    from_pod, from_template = judge(p), judge(deployment(copy.deepcopy(p)))
    assert (from_pod.allowed, codes(from_pod)) == (from_template.allowed, codes(from_template))


def test_a_controller_takes_its_namespace_from_its_own_metadata() -> None:
    d = deployment(pod(container(env=DIRECT), namespace="kube-system"))
    assert judge(d).allowed


@pytest.mark.parametrize(
    "obj",
    [
        {"kind": "Service", "metadata": {}},
        {"kind": "Deployment", "spec": {}},
        {"kind": "Pod", "metadata": {"name": "x"}},
        {"kind": "Deployment", "spec": {"template": "nope"}},
    ],
)
def test_objects_without_a_pod_spec_are_rejected_clearly(obj: dict[str, Any]) -> None:
    ctx = context()
    with pytest.raises(NotAPodError):
        evaluate(obj, ctx)
