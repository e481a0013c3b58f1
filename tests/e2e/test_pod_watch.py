"""The operator's pod watch against the real API server over TLS: a burst of creates reaches the view, its
events read together after the watch's waits rather than each as it arrives."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml
from kube import pod
from tests.harness.client import ClusterClient, eventually
from tests.harness.operator import OperatorProcess

from modelroute.cluster import KindWatch, Kube, load_config
from modelroute.cluster.state import ClusterState

BURST = 40


@pytest.fixture
def changes() -> list[str]:
    return []


@pytest.fixture
def pod_watch(cluster: ClusterClient, changes: list[str]) -> Iterator[tuple[KindWatch, ClusterState]]:
    state = ClusterState()
    watch = KindWatch(Kube(load_config(str(cluster.kubeconfig))), state, "pods")
    state.on_change(changes.append)
    watch.start()
    eventually(lambda: "pods" in state.synced, "the pod watch listed the pods")
    yield watch, state
    watch.stop()


def test_a_burst_of_pods_reaches_the_view_read_in_fewer_waits_than_events(
    cluster: ClusterClient,
    operator: OperatorProcess,  # its webhooks admit the pods
    namespace: str,
    pod_watch: tuple[KindWatch, ClusterState],
    changes: list[str],
) -> None:
    watch, state = pod_watch
    pods = [pod(f"burst-{i}", namespace) for i in range(BURST)]
    cluster.kubectl("create", "-f", "-", input=yaml.safe_dump_all(pods))
    eventually(
        lambda: sum(1 for ns, _ in state.raw["pods"] if ns == namespace) == BURST,
        f"the {BURST} pods in the watch's view",
    )
    print(f"{len(changes)} pod changes read after {watch.gathers} waits")
    assert 1 <= watch.gathers <= len(changes) // 2
