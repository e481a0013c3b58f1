"""A ConfigMap edit judged by the running pods that read it: it may not open a route a pod create could not."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest
from tests.unit.builders import APPROVED_URL, container, context, judge, pod, policy, workload

from modelroute.engine import config_map_edits
from modelroute.engine.config_map_edits import judge_config_map_edit, with_config_map
from modelroute.engine.evaluate import evaluate
from modelroute.engine.verdict import Code

OPENAI = "https://api.openai.com/v1"


def admitted(name: str = "chat-1", config_map: str = "chat-env", ctx: Any = None, **spec: Any) -> dict[str, Any]:
    """A covered pod that loads a ConfigMap with envFrom, as admission stored it (mutated)."""
    body = pod(container(envFrom=[{"configMapRef": {"name": config_map}}]), **spec)
    body["metadata"]["name"] = name
    decision = judge(body, ctx or enforcing())
    assert decision.allowed, decision.violations
    patched: dict[str, Any] = jsonpatch.apply_patch(copy.deepcopy(body), decision.patch)
    return patched


def enforcing(enforcement: str = "Enforce", **data: str) -> Any:
    # the AzureOpenAI profile writes no OPENAI_BASE_URL: one loaded from the ConfigMap is the route taken
    return context(
        workloads=[workload(inject={"profiles": ["AzureOpenAI"]})],
        policies=[policy(enforcement=enforcement)],
        config_maps={("apps", "chat-env"): dict(data or {"LOG_LEVEL": "info"})},
    )


def edit(ctx: Any, pods: list[dict[str, Any]], after: dict[str, str] | None) -> Any:
    before = ctx.config_maps.get(("apps", "chat-env"))
    return judge_config_map_edit(pods, "apps", "chat-env", before, after, ctx)


def test_a_key_added_to_an_env_from_config_map_that_opens_a_route_is_refused_under_enforce() -> None:
    ctx = enforcing()
    verdict = edit(ctx, [admitted(ctx=ctx)], {"LOG_LEVEL": "info", "OPENAI_BASE_URL": OPENAI})
    assert not verdict.allowed
    assert "chat-1" in verdict.message
    assert "ConfigMap apps/chat-env" in verdict.message
    assert str(Code.ENDPOINT_NOT_APPROVED) in verdict.message
    assert [str(v.code) for v in verdict.regressions[0].violations] == [str(Code.ENDPOINT_NOT_APPROVED)]


def test_an_edit_that_changes_no_route_is_admitted() -> None:
    ctx = enforcing()
    verdict = edit(ctx, [admitted(ctx=ctx)], {"LOG_LEVEL": "debug"})
    assert verdict.allowed
    assert not verdict.regressions
    assert not verdict.warnings


def test_under_warn_it_is_admitted_with_a_warning_naming_the_pod() -> None:
    ctx = enforcing("Warn")
    verdict = edit(ctx, [admitted(ctx=ctx)], {"OPENAI_BASE_URL": OPENAI})
    assert verdict.allowed
    assert any("chat-1" in w and str(Code.ENDPOINT_NOT_APPROVED) in w for w in verdict.warnings)


def test_under_audit_it_is_admitted_silently_but_the_regression_is_known() -> None:
    ctx = enforcing("Audit")
    verdict = edit(ctx, [admitted(ctx=ctx)], {"OPENAI_BASE_URL": OPENAI})
    assert verdict.allowed
    assert not verdict.warnings
    assert verdict.regressions


def test_a_pod_that_already_violated_the_same_way_is_no_regression() -> None:
    ctx = enforcing("Warn", OPENAI_BASE_URL=OPENAI)
    pod_body = admitted(ctx=ctx)
    verdict = edit(ctx, [pod_body], {"OPENAI_BASE_URL": OPENAI, "LOG_LEVEL": "debug"})
    assert not verdict.regressions


def test_an_approved_value_the_mutation_pinned_does_not_follow_the_config_map() -> None:
    # OPENAI_BASE_URL at the approved route, from the ConfigMap: admission pins it as a literal
    ctx = context(
        workloads=[workload(inject={"profiles": ["AzureOpenAI"]})],
        policies=[policy(enforcement="Enforce")],
        config_maps={("apps", "chat-env"): {"OPENAI_BASE_URL": APPROVED_URL}},
    )
    verdict = edit(ctx, [admitted(ctx=ctx)], {"OPENAI_BASE_URL": OPENAI})
    assert verdict.allowed
    assert not verdict.regressions


def test_deleting_a_config_map_running_pods_load_opens_no_route_and_is_admitted() -> None:
    # `kubectl delete -f app.yaml` deletes the ConfigMap while its pods still run: the kubelet would not start
    # a container whose ConfigMap is missing, so no route opens
    ctx = enforcing()
    verdict = edit(ctx, [admitted(ctx=ctx)], None)
    assert verdict.after_missing
    assert verdict.allowed
    assert not verdict.regressions


def test_deleting_an_optional_config_map_that_pinned_nothing_is_judged_with_it_gone() -> None:
    # an optional ConfigMap set OPENAI_BASE_URL for a pod no workload covers; an earlier env entry points at
    # OpenAI: deleting the ConfigMap lets it through at the next start
    ctx = context(
        workloads=[],
        policies=[policy(enforcement="Enforce", unmanaged="Allow")],
        config_maps={("apps", "chat-env"): {"OPENAI_BASE_URL": APPROVED_URL}},
    )
    body = pod(
        container(
            env={"OPENAI_API_KEY": "k"},
            envFrom=[{"configMapRef": {"name": "chat-env", "optional": True}}],
        )
    )
    assert judge(body, ctx).allowed
    verdict = edit(ctx, [body], None)
    assert not verdict.allowed
    assert "the deletion of ConfigMap apps/chat-env" in verdict.message


def test_many_pods_are_named_a_few_then_counted() -> None:
    ctx = enforcing()
    pods = [admitted(f"chat-{i}", ctx=ctx) for i in range(7)]
    verdict = edit(ctx, pods, {"OPENAI_BASE_URL": OPENAI})
    assert not verdict.allowed
    assert "chat-0, chat-1, chat-2 and 4 more" in verdict.message
    assert verdict.message.count("EndpointNotApproved") == 1  # one line per violation, naming its pods


def test_pods_of_one_template_are_judged_once(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = enforcing()
    pods = [admitted(f"chat-{i}", ctx=ctx) for i in range(20)]
    calls = count_evaluations(monkeypatch)
    verdict = edit(ctx, pods, {"OPENAI_BASE_URL": OPENAI})
    assert len(verdict.regressions) == 20
    assert len(calls) == 2  # before and after, for the one content


def test_an_edit_that_opens_no_route_judges_each_template_once(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = enforcing()
    pods = [admitted(f"chat-{i}", ctx=ctx) for i in range(20)]
    calls = count_evaluations(monkeypatch)
    assert edit(ctx, pods, {"LOG_LEVEL": "debug"}).allowed
    assert len(calls) == 1  # no violation under the new data: nothing to compare with


def test_finished_pods_and_ungoverned_namespaces_are_not_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = enforcing()
    done = admitted(ctx=ctx)
    done["status"] = {"phase": "Succeeded"}
    calls = count_evaluations(monkeypatch)
    assert edit(ctx, [done], {"OPENAI_BASE_URL": OPENAI}).allowed
    ignored = context(policies=[policy(enforcement="Enforce")], namespace_labels={"apps": {"modelroute.io/ignore": ""}})
    assert judge_config_map_edit(
        [admitted(ctx=ctx)], "apps", "chat-env", {}, {"OPENAI_BASE_URL": OPENAI}, ignored
    ).allowed
    assert calls == []


def test_the_overlay_changes_one_config_map_and_leaves_the_context_alone() -> None:
    ctx = enforcing()
    other = with_config_map(ctx, "apps", "chat-env", {"A": "1"})
    assert other.config_maps[("apps", "chat-env")] == {"A": "1"}
    assert ctx.config_maps[("apps", "chat-env")] == {"LOG_LEVEL": "info"}
    gone = with_config_map(ctx, "apps", "chat-env", None)
    assert ("apps", "chat-env") not in gone.config_maps
    assert len(gone.config_maps) == 0
    assert gone.config_maps.get(("apps", "chat-env")) is None


def count_evaluations(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    calls: list[object] = []
    real = evaluate

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(config_map_edits, "evaluate", counting)
    return calls
