"""Shutdown of a local-mode operator: no window in which a violating pod is admitted while a configuration is
registered, a bounded exit when the API server does not answer, and a stale configuration removed on the
next start."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import kubernetes.client
import kubernetes.config
import pytest
from kube import pod
from kubernetes.client.rest import ApiException
from test_operator import endpoint, policy, wait_ready, workload
from tests.harness.client import ClusterClient, apply, get
from tests.harness.control_plane import LocalCluster
from tests.harness.operator import CONFIGURATION_NAME, OperatorProcess

VIOLATING_ENV = {"OPENAI_BASE_URL": "https://api.openai.com/v1"}
EXIT_BOUND_SECONDS = 30
STREAM_THREADS = 3


@dataclass
class Stream:
    """Violating pod creates, each bracketed by two reads of the ValidatingWebhookConfiguration."""

    admitted_while_registered: list[str] = field(default_factory=list)
    admitted_after_removal: list[str] = field(default_factory=list)
    denied: int = 0
    failed_closed: int = 0
    other_errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _api(cluster: ClusterClient) -> kubernetes.client.ApiClient:
    return kubernetes.config.new_client_from_config(config_file=str(cluster.kubeconfig))


def _registered(admission: kubernetes.client.AdmissionregistrationV1Api) -> bool:
    try:
        admission.read_validating_webhook_configuration(CONFIGURATION_NAME, _request_timeout=5)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def _create_until_removed(cluster: ClusterClient, namespace: str, stream: Stream, stop: threading.Event) -> None:
    api = _api(cluster)
    core = kubernetes.client.CoreV1Api(api)
    admission = kubernetes.client.AdmissionregistrationV1Api(api)
    n = 0
    while not stop.is_set():
        before = _registered(admission)
        name = f"v-{threading.get_ident() % 10_000}-{n}"
        n += 1
        try:
            core.create_namespaced_pod(namespace, pod(name, namespace, env=VIOLATING_ENV), _request_timeout=30)
        except ApiException as error:
            with stream.lock:
                if error.status == 403 and "EndpointNotApproved" in str(error.body):
                    stream.denied += 1
                elif "failed calling webhook" in str(error.body):
                    stream.failed_closed += 1
                else:
                    stream.other_errors.append(f"{error.status}: {error.body}")
            continue
        after = _registered(admission)
        with stream.lock:
            # registered before and after the create: registered throughout, so the API server called the webhook
            (stream.admitted_while_registered if before and after else stream.admitted_after_removal).append(name)
        if not after:
            return  # the configurations are gone: what follows is not judged by anyone, by design of local mode


@pytest.fixture
def governed(cluster: ClusterClient, operator: OperatorProcess, namespace: str) -> Iterator[str]:
    """A namespace under an enforcing policy with one covered workload."""
    names = (f"{namespace}-aoai", f"{namespace}-policy")
    apply(cluster, endpoint(names[0]), policy(names[1], namespace, enforcement="Enforce"))
    apply(cluster, workload("chat", namespace, names[0]))
    wait_ready(cluster, namespace)
    yield namespace
    cluster.kubectl("delete", "routepolicy", names[1], "--ignore-not-found", check=False)
    cluster.kubectl("delete", "azureendpoint", names[0], "--ignore-not-found", check=False)


def test_a_sigterm_during_a_stream_of_violating_creates_admits_none_while_registered(
    cluster: ClusterClient, operator: OperatorProcess, governed: str
) -> None:
    namespace = governed
    stream, stop = Stream(), threading.Event()
    threads = [
        threading.Thread(target=_create_until_removed, args=(cluster, namespace, stream, stop), daemon=True)
        for _ in range(STREAM_THREADS)
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(2)  # a steady stream first
        denied_before_sigterm = stream.denied
        assert operator.process is not None
        operator.process.send_signal(signal.SIGTERM)
        operator.process.wait(timeout=EXIT_BOUND_SECONDS)
        time.sleep(1)  # creates already in flight finish
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=40)
    print(
        f"denied {stream.denied} ({stream.denied - denied_before_sigterm} after SIGTERM), "
        f"failed closed {stream.failed_closed}, admitted after the configurations were removed "
        f"{len(stream.admitted_after_removal)}"
    )
    assert stream.admitted_while_registered == []
    assert stream.other_errors == []
    # The stream did run while the operator was shutting down: creates answered after the SIGTERM, denied while the
    # configurations were still registered or admitted once they were gone. On a loaded machine the operator can
    # remove them before the next create is denied, so either kind counts.
    assert stream.denied - denied_before_sigterm + len(stream.admitted_after_removal) > 0
    assert not _registered(kubernetes.client.AdmissionregistrationV1Api(_api(cluster)))  # and it cleaned up


# --- a frozen API server --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local(cluster: ClusterClient) -> LocalCluster:
    if cluster.local is None:
        pytest.skip("freezing the API server needs the suite's own local control plane")
    return cluster.local


@pytest.fixture
def frozen_api_server(local: LocalCluster) -> Iterator[int]:
    """SIGSTOP to kube-apiserver when the test says so; always SIGCONT and a ready API server afterwards."""
    pid = local.pids["kube-apiserver"]
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGCONT)
        local.wait_api_ready(timeout=60)


def _uid(cluster: ClusterClient) -> str:
    return str(get(cluster, "validatingwebhookconfiguration", CONFIGURATION_NAME)["metadata"]["uid"])


def test_a_sigterm_while_the_api_server_is_frozen_exits_in_bounded_time_and_the_next_start_clears_what_is_left(
    cluster: ClusterClient, operator: OperatorProcess, frozen_api_server: int
) -> None:
    registered_uid = _uid(cluster)
    assert operator.process is not None
    os.kill(frozen_api_server, signal.SIGSTOP)
    began = time.monotonic()
    operator.process.send_signal(signal.SIGTERM)
    try:
        operator.process.wait(timeout=EXIT_BOUND_SECONDS)
    except subprocess.TimeoutExpired as error:
        operator.process.kill()
        operator.process.wait(timeout=10)
        raise AssertionError(
            f"the operator did not exit within {EXIT_BOUND_SECONDS}s:\n{operator.log_tail()}"
        ) from error
    print(f"exit {time.monotonic() - began:.1f}s after SIGTERM with the API server frozen")
    os.kill(frozen_api_server, signal.SIGCONT)
    assert cluster.local is not None
    cluster.local.wait_api_ready(timeout=60)
    assert _uid(cluster) == registered_uid  # left behind: the removal could not reach the API server

    operator.start()
    assert _uid(cluster) != registered_uid  # removed and registered afresh, not the stale one kept
    log = operator.log_file.read_text(errors="replace")
    assert log.index("removed webhook configurations") < log.index("serving admission webhooks")
