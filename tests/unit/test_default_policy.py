"""A namespace no RoutePolicy selects gets the built-in default, whether or not other policies exist:
a ModelWorkload always means what it says. Exclusion stays an explicit opt-out."""

from __future__ import annotations

from builders import APPROVED_URL, codes, container, context, env_of, judge, pod, policy, workload

from modelroute.api.v1alpha1 import Enforcement
from modelroute.engine.audit import audit
from modelroute.engine.context import BUILT_IN_POLICY
from modelroute.engine.status import route_policy_status
from modelroute.engine.verdict import Outcome

DIRECT = {"OPENAI_BASE_URL": "https://api.openai.com/v1"}
PROD_ONLY = policy("prod", namespaceSelector={"matchLabels": {"env": "prod"}})
LABELS = {"apps": {"env": "dev"}, "shop": {"env": "prod"}}


def test_a_namespace_no_policy_selects_gets_the_built_in_default() -> None:
    ctx = context(policies=[PROD_ONLY], namespace_labels=LABELS)
    assert ctx.policy_for("apps") == BUILT_IN_POLICY
    assert ctx.policy_for("shop") is not None
    assert ctx.policy_for("shop").sources == ("prod",)  # type: ignore[union-attr]


def test_a_covered_pod_outside_every_policy_is_injected_and_annotated() -> None:
    p = pod(container())
    decision = judge(p, context(policies=[PROD_ONLY], namespace_labels=LABELS))
    assert decision.allowed
    assert decision.outcome is Outcome.COMPLIANT
    assert env_of(decision, p)["OPENAI_BASE_URL"] == APPROVED_URL + "/openai/v1"
    assert decision.annotations["modelroute.io/workload"] == "chat"
    assert decision.annotations["modelroute.io/procurement-channel"] == "Microsoft"
    assert decision.annotations["modelroute.io/decision"] == "compliant"


def test_violations_outside_every_policy_are_warnings_as_with_no_policy_at_all() -> None:
    decision = judge(pod(container(env=DIRECT)), context(policies=[PROD_ONLY], namespace_labels=LABELS))
    assert decision.allowed
    assert decision.enforcement is Enforcement.WARN
    assert decision.outcome is Outcome.WARNED
    assert codes(decision) == ["EndpointNotApproved"]


def test_the_selected_namespace_keeps_its_own_policy() -> None:
    decision = judge(
        pod(container(env=DIRECT), namespace="shop"),
        context(policies=[PROD_ONLY], workloads=[workload(namespace="shop")], namespace_labels=LABELS),
    )
    assert not decision.allowed
    assert decision.enforcement is Enforcement.ENFORCE


def test_a_namespace_a_policy_excludes_and_no_other_selects_stays_ungoverned() -> None:
    p = pod(container(env=DIRECT))
    decision = judge(p, context(policies=[policy(excludedNamespaces=["apps"])]))
    assert decision.allowed
    assert decision.outcome is Outcome.UNGOVERNED
    assert decision.annotations == {}
    assert decision.patch == []


def test_excluding_a_namespace_opts_it_out_even_where_that_policy_would_not_select_it() -> None:
    # the exclusion is read as written: this namespace is not to be governed by default either
    ctx = context(policies=[policy("prod", namespaceSelector={"matchLabels": {"env": "prod"}},
                                   excludedNamespaces=["apps"])], namespace_labels=LABELS)  # fmt: skip
    assert ctx.policy_for("apps") is None
    assert judge(pod(container(env=DIRECT)), ctx).outcome is Outcome.UNGOVERNED


def test_another_policy_that_selects_an_excluded_namespace_governs_it() -> None:
    ctx = context(policies=[policy("a", excludedNamespaces=["apps"]), policy("b", enforcement="Audit")])
    governing = ctx.policy_for("apps")
    assert governing is not None
    assert governing.sources == ("b",)
    assert judge(pod(container(env=DIRECT)), ctx).outcome is Outcome.AUDITED


def test_system_namespaces_stay_excluded_whatever_the_policies() -> None:
    ctx = context(policies=[PROD_ONLY], namespace_labels=LABELS)
    assert judge(pod(container(env=DIRECT), namespace="kube-system"), ctx).outcome is Outcome.EXCLUDED
    assert ctx.policy_for("modelroute-system") is None


def test_the_ignore_label_still_excludes_a_namespace_no_policy_selects() -> None:
    ctx = context(policies=[PROD_ONLY], namespace_labels={"apps": {"modelroute.io/ignore": "true"}})
    assert judge(pod(container(env=DIRECT)), ctx).outcome is Outcome.EXCLUDED


def test_the_audit_counts_covered_pods_in_a_namespace_only_the_default_governs() -> None:
    ctx = context(policies=[PROD_ONLY], namespace_labels=LABELS)
    running = [pod(container(env=DIRECT)), pod(container(env={"OPENAI_BASE_URL": APPROVED_URL + "/openai/v1"}))]
    result = audit(running, ctx)
    assert result.pod_counts("apps", "chat") == {"matched": 2, "compliant": 1, "violating": 1}


def test_a_policy_does_not_claim_the_namespaces_the_default_governs() -> None:
    ctx = context(policies=[PROD_ONLY], namespace_labels=LABELS)
    status = route_policy_status(PROD_ONLY, ctx, ["apps", "shop", "kube-system"])
    assert status["governedNamespaces"] == 1
