"""After the API server restarts, or is gone for longer than a watch back-off, the running operator catches up
by itself: a new AzureEndpoint is honoured by the webhook within seconds, without restarting the operator."""

from __future__ import annotations

import time
from collections.abc import Iterator

import kubernetes.client
import kubernetes.config
import pytest
from kube import pod
from kubernetes.client.rest import ApiException
from test_operator import endpoint, policy, workload
from tests.harness.client import ClusterClient, apply, eventually
from tests.harness.control_plane import LocalCluster
from tests.harness.operator import OperatorProcess

API_SERVER = "kube-apiserver"
HONOURED_WITHIN_SECONDS = 20  # generous for a loaded 2-core machine; the figure is printed
LONG_OUTAGE_SECONDS = 20  # longer than kopf's default error back-offs add up to before they give up


@pytest.fixture
def local(cluster: ClusterClient) -> Iterator[LocalCluster]:
    """The suite's control plane; its API server is running again, and ready, after the test whatever happened."""
    if cluster.local is None:
        pytest.skip("restarting the API server needs the suite's own local control plane")
    local = cluster.local
    try:
        yield local
    finally:
        if API_SERVER not in local.pids:
            local.start_component(API_SERVER)
        local.wait_api_ready(timeout=60)


@pytest.fixture
def waiting_for_endpoint(cluster: ClusterClient, operator: OperatorProcess, namespace: str) -> Iterator[str]:
    """An enforcing policy and a workload whose AzureEndpoint does not exist yet; yields the endpoint's name."""
    name = f"{namespace}-aoai"
    apply(cluster, policy(f"{namespace}-policy", namespace, enforcement="Enforce"), workload("chat", namespace, name))
    yield name
    cluster.kubectl("delete", "routepolicy", f"{namespace}-policy", "--ignore-not-found", check=False)
    cluster.kubectl("delete", "azureendpoint", name, "--ignore-not-found", check=False)


def _routed_to(cluster: ClusterClient, namespace: str) -> str | None:
    """The endpoint a server-side dry-run create of a covered pod is routed to, None while it is refused."""
    core = kubernetes.client.CoreV1Api(kubernetes.config.new_client_from_config(config_file=str(cluster.kubeconfig)))
    try:
        created = core.create_namespaced_pod(namespace, pod("probe", namespace), dry_run="All", _request_timeout=15)
    except ApiException:
        return None
    return (created.metadata.annotations or {}).get("modelroute.io/endpoint")


def _seconds_until_honoured(cluster: ClusterClient, namespace: str, endpoint_name: str) -> float:
    began = time.monotonic()
    apply(cluster, endpoint(endpoint_name))
    eventually(
        lambda: _routed_to(cluster, namespace) == endpoint_name,
        f"a covered pod routed to the new endpoint {endpoint_name}",
        timeout=HONOURED_WITHIN_SECONDS,
        interval=0.2,
    )
    return time.monotonic() - began


def test_a_new_endpoint_is_honoured_within_seconds_after_an_api_server_restart(
    cluster: ClusterClient, local: LocalCluster, operator: OperatorProcess, namespace: str, waiting_for_endpoint: str
) -> None:
    assert _routed_to(cluster, namespace) is None  # refused while the endpoint does not exist
    local.stop_component(API_SERVER)
    local.start_component(API_SERVER)
    seconds = _seconds_until_honoured(cluster, namespace, waiting_for_endpoint)
    print(f"new endpoint honoured {seconds:.1f}s after it was applied, right after an API server restart")
    assert operator.alive


def test_the_operator_recovers_by_itself_after_an_outage_longer_than_the_back_off_budget(
    cluster: ClusterClient, local: LocalCluster, operator: OperatorProcess, namespace: str, waiting_for_endpoint: str
) -> None:
    assert operator.process is not None
    pid, starts = operator.process.pid, operator.starts
    local.stop_component(API_SERVER)
    time.sleep(LONG_OUTAGE_SECONDS)
    assert operator.alive  # no exit while the API server is gone
    local.start_component(API_SERVER)
    seconds = _seconds_until_honoured(cluster, namespace, waiting_for_endpoint)
    print(f"new endpoint honoured {seconds:.1f}s after it was applied, after a {LONG_OUTAGE_SECONDS}s outage")
    assert operator.alive
    assert (operator.process.pid, operator.starts) == (pid, starts)  # the same process, never restarted
