"""How readiness reads the API server's answers to its dry-run probes: only the refusal that what it probes
gives counts as in force."""

from __future__ import annotations

from modelroute.api import annotations as ann
from modelroute.cluster import DryRun, MemoryKube
from modelroute.operator import enforcement
from modelroute.operator.options import RunOptions

REFUSED_MARKED = DryRun(False, 403, f'admission webhook "pods.validate.modelroute.io" denied the request: '
                        f"{ann.ENFORCEMENT_PROBE_REFUSAL} (mutated: yes)")  # fmt: skip
GUARD = "modelroute-annotations"
GUARD_REFUSAL = DryRun(
    False,
    403,
    f"ValidatingAdmissionPolicy '{GUARD}' with binding '{GUARD}' denied request: a Binding cannot set modelroute.io/ "
    "annotations on a pod",
)


def missing(**answers: DryRun) -> list[str]:
    probes = [enforcement.webhooks_probe("default"), enforcement.annotation_guard_probe(GUARD, "default")]
    kube = MemoryKube()
    kube.dry_runs.update(answers)
    return enforcement.not_in_force(kube, probes)


def test_everything_refused_as_it_must_be_is_in_force() -> None:
    assert missing(Pod=REFUSED_MARKED, Binding=GUARD_REFUSAL) == []


def test_an_admitted_probe_pod_means_the_webhooks_are_not_called() -> None:
    (line,) = missing(Pod=DryRun(True, 201, ""), Binding=GUARD_REFUSAL)
    assert line.startswith("the webhooks: a dry-run pod in namespace default was admitted")


def test_a_probe_pod_the_mutating_webhook_missed_is_not_enough() -> None:
    unmarked = DryRun(False, 403, f"{ann.ENFORCEMENT_PROBE_REFUSAL} (mutated: no)")
    assert missing(Pod=unmarked, Binding=GUARD_REFUSAL) == [
        "the webhooks: the validating webhook answers, the mutating webhook is not called yet"
    ]


def test_a_webhook_that_cannot_be_called_is_not_in_force() -> None:
    failed = DryRun(False, 500, 'failed calling webhook "pods.mutate.modelroute.io": connection refused')
    (line,) = missing(Pod=failed, Binding=GUARD_REFUSAL)
    assert "refused, but not by ModelRoute" in line
    assert "connection refused" in line


def test_a_binding_that_reaches_the_pod_lookup_means_the_guard_is_not_loaded() -> None:
    (line,) = missing(Pod=REFUSED_MARKED, Binding=DryRun(False, 404, 'pods "modelroute-enforcement-probe" not found'))
    assert line.startswith(f"the annotation guard {GUARD}:")
    assert "404" in line


def test_a_refusal_by_another_policy_does_not_count() -> None:
    other = DryRun(False, 403, "ValidatingAdmissionPolicy 'someone-else' with binding 'x' denied request: no")
    assert len(missing(Pod=REFUSED_MARKED, Binding=other)) == 1


def test_a_refusal_by_an_identical_guard_counts() -> None:
    # the API server names only the first policy that refuses; another guard with the same rule keeps the promise
    twin = DryRun(False, 403, GUARD_REFUSAL.message.replace(GUARD, "modelroute-e2e-annotations"))
    assert missing(Pod=REFUSED_MARKED, Binding=twin) == []


def test_the_guard_probe_is_a_binding_carrying_an_owned_annotation_for_a_pod_that_never_exists() -> None:
    probe = enforcement.annotation_guard_probe(GUARD, "team-a")
    assert probe.kind == "Binding"
    assert probe.body["metadata"]["name"] == enforcement.PROBE_NAME
    assert set(probe.body["metadata"]["annotations"]) <= set(ann.OWNED_POD_ANNOTATIONS)


def test_local_mode_waits_for_its_webhooks_and_its_own_guard() -> None:
    options = RunOptions(register_webhooks=True, webhook_configuration_name="mr", probe_namespace="ns")
    assert [p.what for p in options.enforcement_probes()] == ["the webhooks", "the annotation guard mr-annotations"]


def test_in_a_cluster_readiness_waits_for_the_charts_guards_but_not_for_its_own_service() -> None:
    options = RunOptions(annotation_guard="a", owned_objects_guard="o", namespace="modelroute-system")
    probes = options.enforcement_probes()
    assert [p.what for p in probes] == ["the annotation guard a", "the owned-objects guard o"]
    assert probes[1].namespace == "modelroute-system"
    assert RunOptions().enforcement_probes() == []
