"""The webhook server against an allow-all handler on the same stack (aiohttp + TLS, one server process),
driven over keep-alive TLS by a separate client process with a mix of mutate and validate reviews.

    python -m tests.bench.bench_webhook [--seconds 5] [--clients 1,8,32,64]

The mix per round: the mutating review of a covered compliant pod and the validating review of the pod it
produced, the same for a violating pod, and for a plain pod (six reviews). A second ModelRoute phase sends
only covered LiteLLM proxy pods whose config file is mounted from a ConfigMap (two reviews per round).
Every pod is distinct (a unique env value), so nothing is answered from the cache except what the design
caches on purpose: the validating call for the pod the mutating call just produced. Figures: reviews/s, p50
and p99 per concurrency, and the ratios to the allow-all floor measured in the same run (load average
printed before each phase).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonpatch
import orjson

from modelroute.admission import configurations as cfg
from tests.bench import world


# ------------------------------------------------------------------ the server side (a child process)
async def _serve(mode: str, port: int, cert_dir: Path, kubeconfig: str | None = None) -> None:
    from modelroute.admission.connection import Reply
    from modelroute.admission.server import WebhookServer
    from modelroute.admission.webhooks import AdmissionService
    from modelroute.cluster import MemoryKube
    from modelroute.cluster.certs import generate_serving_files
    from modelroute.cluster.events import EventRecorder
    from modelroute.cluster.state import ClusterState
    from modelroute.observability import Metrics

    files = generate_serving_files(cert_dir, ["127.0.0.1"])
    state = ClusterState(operator_namespace="modelroute-system")
    for plural, bodies in world.cluster_bodies(3, 1).items():
        state.replace_all(plural, bodies)

    recorder = EventRecorder(MemoryKube())
    asyncio.get_running_loop().create_task(recorder.run())

    async def no_read(_: str) -> None:
        return None

    service: Any = AdmissionService(state, Metrics(), lambda: recorder, no_read)
    if mode == "allow-all":

        class AllowAll:
            def review_now(self, path: str, body: bytes) -> Reply:
                review = orjson.loads(body)
                uid = review["request"]["uid"]
                out = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}
                return Reply(200, orjson.dumps(out | {"response": {"uid": uid, "allowed": True}}))

        service = AllowAll()
    elif mode == "floor":
        service = _Floor(service)
        _watch_pods(state, kubeconfig)
    server = WebhookServer(service, addr="127.0.0.1", port=port, cert=files.cert_file, key=files.key_file)
    await server.start()
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop()


class _Floor:
    """Allow-all, except that the mutating call answers with the patch ModelRoute makes to a covered pod of
    `bench_pods` (all of them have the same shape, so one patch applies to every one): what a design that makes
    ModelRoute's change costs without judging anything."""

    def __init__(self, service: Any) -> None:
        from modelroute.admission.connection import Reply

        self.reply = Reply
        pod = world.covered_pod()
        pod["metadata"]["name"] = "floor"
        pod["spec"]["containers"][0]["env"].append({"name": "REQUEST_ID", "value": "floor"})
        reply = service.review_now(cfg.MUTATE_PODS, orjson.dumps(world.review(pod)))
        self.patch = orjson.loads(reply.body)["response"]["patch"]

    def review_now(self, path: str, body: bytes) -> Any:
        response: dict[str, Any] = {"uid": orjson.loads(body)["request"]["uid"], "allowed": True}
        if path == cfg.MUTATE_PODS:
            response |= {"patch": self.patch, "patchType": "JSONPatch"}
        out = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
        return self.reply(200, orjson.dumps(out))


def _watch_pods(state: Any, kubeconfig: str | None) -> None:
    """The operator's own pod watch into the server's cluster view, as `modelroute run` keeps it."""
    from modelroute.cluster import KindWatch, Kube, load_config

    if kubeconfig is None:
        raise SystemExit("the floor server watches pods: give it a kubeconfig")
    KindWatch(Kube(load_config(kubeconfig)), state, "pods").start()


@contextlib.contextmanager
def server_process(mode: str, workdir: Path, kubeconfig: Path | None = None) -> Iterator[tuple[int, Path, int]]:
    """(port, CA file, pid) of a webhook server in a child process of its own; the floor server watches the
    pods of the cluster `kubeconfig` names."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    cert_dir = workdir / mode
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.bench.bench_webhook",
            "serve",
            mode,
            str(port),
            str(cert_dir),
            *([str(kubeconfig)] if kubeconfig else []),
        ],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if b"ready" not in line:
            raise RuntimeError(f"the {mode} server did not start")
        yield port, cert_dir / "ca.crt", child.pid
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


# ------------------------------------------------------------------ the client side
STANDARD_MIX = (world.covered_pod, world.violating_pod, world.plain_pod)
LITELLM_MIX = (world.litellm_pod,)


def review_rounds(salt: str, rounds: int, mix: tuple[Any, ...] = STANDARD_MIX) -> list[tuple[str, bytes]]:
    """Reviews as the API server sends them, for `rounds` x the mix's distinct pods: the mutating review of each
    pod, then the validating review of the pod that mutation produced. Built before the clock starts, so the
    client does the same work against either server."""
    from modelroute.admission.review import mutate
    from modelroute.cluster.state import ClusterState

    state = ClusterState(operator_namespace="modelroute-system")
    for plural, bodies in world.cluster_bodies(3, 1).items():
        state.replace_all(plural, bodies)
    context = state.context()
    out: list[tuple[str, bytes]] = []
    for index in range(rounds):
        for make in mix:
            pod = make()
            pod["spec"]["containers"][0].setdefault("env", []).append({"name": "REQUEST_ID", "value": f"{salt}{index}"})
            out.append((cfg.MUTATE_PODS, orjson.dumps(world.review(pod))))
            patch = mutate(pod, context).patch
            after = jsonpatch.apply_patch(copy.deepcopy(pod), patch) if patch else pod
            out.append((cfg.VALIDATE_PODS, orjson.dumps(world.review(after))))
    return out


async def _drive(
    port: int, ca: Path, clients: int, seconds: float, reviews: list[tuple[str, bytes]], per_round: int = 6
) -> tuple[float, list[float]]:
    import aiohttp

    context = ssl.create_default_context(cafile=str(ca))
    connector = aiohttp.TCPConnector(limit=clients, ssl=context)
    latencies: list[float] = []
    rounds = iter(range(10**9))
    deadline = time.perf_counter() + seconds

    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                base = (next(rounds) * per_round) % len(reviews)
                for path, body in reviews[base : base + per_round]:
                    started = time.perf_counter()
                    async with session.post(f"https://127.0.0.1:{port}/{path}", data=body) as response:
                        data = await response.read()
                        assert response.status == 200, (response.status, data[:200])
                    latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return elapsed, latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(
    mode: str,
    workdir: Path,
    clients_list: list[int],
    seconds: float,
    rounds: int,
    mix: tuple[Any, ...] = STANDARD_MIX,
    label: str | None = None,
) -> dict[int, tuple[float, float, float]]:
    out: dict[int, tuple[float, float, float]] = {}
    label = label or mode
    per_round = 2 * len(mix)
    with server_process(mode, workdir) as (port, ca, _):
        warm_up = review_rounds("warm-up", 50, mix)
        asyncio.run(_drive(port, ca, 1, min(seconds, 0.5), warm_up, per_round))  # TLS, imports
        for clients in clients_list:
            reviews = review_rounds(f"{clients}-", rounds, mix)
            print(f"  load average before {label} at {clients} clients: {load()}", flush=True)
            elapsed, latencies = asyncio.run(_drive(port, ca, clients, seconds, reviews, per_round))
            rate = len(latencies) / elapsed
            p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
            out[clients] = (rate, p50, p99)
            print(f"  {label:10s} {clients:3d} clients: {rate:7.0f} reviews/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="per phase")
    parser.add_argument("--clients", default="1,8,32,64")
    parser.add_argument("--rounds", type=int, default=2000, help="distinct pods per phase, x3")
    args = parser.parse_args(argv)
    clients_list = [int(c) for c in args.clients.split(",")]
    with tempfile.TemporaryDirectory(prefix="modelroute-bench-") as tmp:
        workdir = Path(tmp)
        print(f"webhook server benchmark: {args.seconds:g} s per phase, clients {clients_list}")
        floor = measure("allow-all", workdir, clients_list, args.seconds, args.rounds)
        ours = measure("modelroute", workdir, clients_list, args.seconds, args.rounds)
        litellm = measure(
            "modelroute", workdir, clients_list, args.seconds, args.rounds, LITELLM_MIX, "modelroute, LiteLLM pods"
        )
    for title, figures in (("ModelRoute", ours), ("ModelRoute on LiteLLM pods with a mounted config", litellm)):
        print(f"ratios ({title} / allow-all, same run):")
        for clients in clients_list:
            (f_rate, f_p50, f_p99), (rate, p50, p99) = floor[clients], figures[clients]
            print(
                f"  {clients:3d} clients: throughput {rate / f_rate:.2f}x  p50 {p50 / f_p50:.2f}x  "
                f"p99 {p99 / f_p99:.2f}x"
            )
    print(
        "targets: throughput >= 0.6x at 8 and 32 clients; p99 <= 1.5x at 1 client "
        "(figures on a shared machine are noisy: compare within one run)"
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        from modelroute.operator.wiring import new_event_loop

        # the operator's event loop (uvloop), for either server: the same stack
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(_serve(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]), *sys.argv[5:6]))
    else:
        raise SystemExit(main(sys.argv[1:]))
