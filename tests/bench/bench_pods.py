"""Pod creation through the real kube-apiserver of the local control plane, without webhooks, with one and
with two allow-all webhooks, and with ModelRoute's webhooks registered (the operator in local mode), at 1
and 16 concurrent clients.

    python -m tests.bench.bench_pods [--pods 500]

Every pod is covered by a ModelWorkload (the mutating webhook patches it, the validating webhook judges
the result) and every pod's content is distinct, so no two reviews are the same object. Clients hold
keep-alive HTTPS connections with the admin client certificate. Figures: p50/p95 per create and pods/s,
and the ratios to the cluster without webhooks measured in the same run; the load average is printed
before each phase. The allow-all phases (ModelRoute's mutating webhook alone, then its mutating and
validating webhooks, pointed at a server on the same stack that answers "allowed" without reading the pod)
show what one call and two calls cost by themselves: the floor under any webhook design. The next one is the
floor under this design: the two calls, the mutating one answered with the patch ModelRoute makes to these pods
(the API server applies it), by a server that also keeps the operator's own pod watch; only the judgement and
its bookkeeping are missing. The operator's CPU per pod is printed beside that server's. A last phase creates
covered LiteLLM proxy pods whose config file is mounted from a ConfigMap (the engine reads it, parsed once).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import copy
import tempfile
import time
from pathlib import Path
from typing import Any

import jsonpatch
import orjson

from modelroute.admission import configurations as cfg
from modelroute.api.annotations import PROCUREMENT_CHANNEL
from tests.bench import world
from tests.bench.bench_webhook import server_process
from tests.bench.cluster import (
    OPERATOR_NAMESPACE,
    Api,
    CreateFigures,
    Operator,
    api_of,
    busy_seconds,
    control_plane,
    cpu_seconds,
    create_all,
    create_pods,
    install_crds,
    load,
    mean_ms,
    server_timings,
)

NAMESPACE = "team-00"
ONE_CALL, TWO_CALLS = "one allow-all webhook", "two allow-all webhooks"
FLOOR = "patching allow-all + pod watch"
FLOOR_SERVER = "floor server"


def pods(phase: str, count: int, make: Any = world.covered_pod) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        pod = make(NAMESPACE, "app-0")
        pod["metadata"].pop("generateName")
        pod["metadata"]["name"] = f"{phase}-{i}"
        pod["spec"]["containers"][0]["env"].append({"name": "REQUEST_ID", "value": f"{phase}-{i}"})
        out.append(pod)
    return out


def times(value: float, floor: float) -> str:
    """`value` as a multiple of `floor`; a CPU figure is read in clock ticks, so a short phase may measure 0."""
    return f"{value / floor:.2f}x" if floor > 0 else "n/a (the floor measured 0 clock ticks)"


def phase_prefix(label: str) -> str:
    """The start of the names of a phase's pods."""
    return "-".join(label.split()[:2]).lower()


async def phases(
    api: Api,
    label: str,
    count: int,
    concurrencies: list[int],
    processes: dict[str, int],
    make: Any = world.covered_pod,
) -> dict[int, CreateFigures]:
    """Each phase also prints, to show where the time went, the CPU the machine and each server process spent per
    pod (at 16 clients two cores are busy, so the create rate follows it) and the mean latency of a create and of
    each webhook call as the API server measured them."""
    out: dict[int, CreateFigures] = {}
    prefix = phase_prefix(label)
    await create_pods(api, pods(f"{prefix}-warm-up", 20, make), 4)
    for clients in concurrencies:
        print(f"  load average before {label} at {clients} clients: {load()}", flush=True)
        timings = await server_timings(api)
        before = {"machine": busy_seconds()} | {name: cpu_seconds(pid) for name, pid in processes.items()}
        figures = await create_pods(api, pods(f"{prefix}-c{clients}", count, make), clients)
        after = {"machine": busy_seconds()} | {name: cpu_seconds(pid) for name, pid in processes.items()}
        means = mean_ms(timings, await server_timings(api))
        spent = figures.cpu_ms = {name: (after[name] - before[name]) / count * 1000 for name in before}
        out[clients] = figures
        print(
            f"  {label:30s} {clients:2d} clients: {figures.rate:6.0f} pods/s  "
            f"p50 {figures.p(0.5):6.1f} ms  p95 {figures.p(0.95):6.1f} ms  CPU per pod: "
            + ", ".join(f"{name} {ms:.1f} ms" for name, ms in spent.items()),
            flush=True,
        )
        print(
            "    as the API server measured them (mean): "
            + ", ".join(f"{name.removesuffix('.modelroute.io')} {ms:.2f} ms" for name, ms in means.items()),
            flush=True,
        )
    return out


def allow_all_configurations(port: int, ca_file: Path, calls: int = 2) -> list[tuple[str, dict[str, Any]]]:
    """ModelRoute's own mutating pod webhook (and with `calls=2` its validating one), pointed at the allow-all
    server."""
    options = cfg.WebhookOptions(operator_namespace=OPERATOR_NAMESPACE, name="allow-all")
    ca_bundle = base64.b64encode(ca_file.read_bytes()).decode()

    def client_config(path: str) -> dict[str, Any]:
        return {"url": f"https://127.0.0.1:{port}/{path}", "caBundle": ca_bundle}

    mutating = cfg.mutating_configuration(client_config, options)
    validating = cfg.validating_configuration(client_config, options)
    validating["webhooks"] = [w for w in validating["webhooks"] if w["name"] == "pods.validate.modelroute.io"]
    base = "/apis/admissionregistration.k8s.io/v1/"
    return [
        (base + "mutatingwebhookconfigurations", mutating),
        (base + "validatingwebhookconfigurations", validating),
    ][:calls]


async def patched(api: Api, name: str) -> None:
    """The floor is only a floor if the API server applied its patch: the pod carries ModelRoute's annotations."""
    pod = await api.get(f"/api/v1/namespaces/{NAMESPACE}/pods/{name}")
    if PROCUREMENT_CHANNEL not in (pod["metadata"].get("annotations") or {}):
        raise RuntimeError(f"the floor server's patch was not applied to pod {NAMESPACE}/{name}")


async def as_sent(api: Api, phase: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(a pod of `phase` as the API server stored it, the namespace's ConfigMaps): the first pod of a phase whose
    webhooks patch nothing is the pod as the webhooks received it, defaulted (service account volume, managed
    fields), less what is set after admission."""
    pod = await api.get(f"/api/v1/namespaces/{NAMESPACE}/pods/{phase}-0")
    for key in ("uid", "resourceVersion", "creationTimestamp"):
        pod["metadata"].pop(key, None)
    config_maps = (await api.get(f"/api/v1/namespaces/{NAMESPACE}/configmaps"))["items"]
    return pod, config_maps


def judgement_in_process(template: dict[str, Any], config_maps: list[dict[str, Any]], count: int) -> float:
    """CPU ms per pod of ModelRoute's admission service called in this process, with no I/O: the mutating review
    of each of `count` distinct copies of `template`, then the validating review of the pod its patch produces,
    over the cluster view the operator has. The part of the operator's CPU per pod that is judging and its
    bookkeeping; the floor server's is the rest."""
    from modelroute.admission.connection import Reply
    from modelroute.admission.webhooks import AdmissionService
    from modelroute.cluster.state import ClusterState
    from modelroute.observability import Metrics

    state = ClusterState(operator_namespace=OPERATOR_NAMESPACE)
    for plural, bodies in {**world.cluster_bodies(3, 1), "configmaps": config_maps}.items():
        state.replace_all(plural, bodies)

    async def no_read(_: str) -> None:
        return None

    def service() -> AdmissionService:
        return AdmissionService(state, Metrics(), lambda: None, no_read)

    async def reviews_of(patches: AdmissionService) -> list[tuple[bytes, bytes]]:
        out = []
        for index in range(count):
            pod = copy.deepcopy(template)
            pod["metadata"]["name"] = f"in-process-{index}"
            env = pod["spec"]["containers"][0]["env"]
            env[[e["name"] for e in env].index("REQUEST_ID")]["value"] = f"in-process-{index}"
            mutating = orjson.dumps(world.review(pod))
            reply = patches.review_now(cfg.MUTATE_PODS, mutating)
            assert isinstance(reply, Reply)  # the namespace is in the view: answered at once
            answer = orjson.loads(reply.body)["response"]
            after = jsonpatch.apply_patch(pod, orjson.loads(base64.b64decode(answer["patch"])))
            out.append((mutating, orjson.dumps(world.review(after))))
        return out

    reviews = asyncio.run(reviews_of(service()))
    judging = service()

    async def judge_all() -> None:
        for mutating, validating in reviews:
            judging.review_now(cfg.MUTATE_PODS, mutating)
            await asyncio.sleep(0)  # the judgement of the produced pod, after the mutating answer
            judging.review_now(cfg.VALIDATE_PODS, validating)

    started = time.process_time()
    asyncio.run(judge_all())
    spent = time.process_time() - started
    if judging.cache.hits != count:  # as in the operator: the validating call is the lookup the design makes it
        raise RuntimeError(f"{judging.cache.hits} of {count} validating calls were answered from the expectation")
    return spent / count * 1000


async def setup(api: Api) -> None:
    await install_crds(api)
    bodies = world.cluster_bodies(3, 1)
    await create_all(
        api,
        [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NAMESPACE}},
            *bodies["namespaces"],
            *bodies["azureendpoints"],
            *bodies["routepolicies"],
            *bodies["configmaps"],
        ],
    )
    await create_all(api, bodies["modelworkloads"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=500, help="pods per phase")
    parser.add_argument("--clients", default="1,16")
    args = parser.parse_args(argv)
    concurrencies = [int(c) for c in args.clients.split(",")]
    with tempfile.TemporaryDirectory(prefix="modelroute-bench-pods-") as tmp, control_plane(Path(tmp) / "cp") as cp:
        print(f"pod-create benchmark: {args.pods} pods per phase, clients {concurrencies}")
        servers = {name: pid for name, pid in cp.pids.items() if name in ("kube-apiserver", "etcd")}

        async def without() -> dict[int, CreateFigures]:
            async with api_of(cp) as api:
                await setup(api)
                return await phases(api, "without webhooks", args.pods, concurrencies, servers)

        baseline = asyncio.run(without())

        async def allow_all(calls: int, label: str, mode: str = "allow-all") -> dict[int, CreateFigures]:
            kubeconfig = cp.kubeconfig if mode == "floor" else None
            server = FLOOR_SERVER if mode == "floor" else "allow-all server"
            with server_process(mode, Path(tmp), kubeconfig) as (port, ca_file, pid):
                async with api_of(cp) as api:
                    configurations = allow_all_configurations(port, ca_file, calls)
                    for path, body in configurations:
                        await api.create(path, body)
                    await asyncio.sleep(2)  # the API server picks configurations up from its informer
                    try:
                        # its CPU per pod beside the operator's: what the two calls cost a server that reads nothing
                        figures = await phases(api, label, args.pods, concurrencies, {**servers, server: pid})
                        if mode == "floor":
                            await patched(api, f"{phase_prefix(label)}-c{concurrencies[-1]}-0")
                        return figures
                    finally:
                        for path, body in configurations:
                            await api.request("DELETE", f"{path}/{body['metadata']['name']}")
                        await asyncio.sleep(2)

        floors = {label: asyncio.run(allow_all(calls, label)) for calls, label in ((1, ONE_CALL), (2, TWO_CALLS))}
        floors[FLOOR] = asyncio.run(allow_all(2, FLOOR, "floor"))
        operator = Operator(cp, Path(tmp))
        operator.start()
        try:

            async def with_webhooks() -> dict[int, CreateFigures]:
                operator.profile()  # MODELROUTE_BENCH_PROFILE=file.raw samples the operator with py-spy
                async with api_of(cp) as api:
                    processes = {**servers, "operator": operator.process.pid if operator.process else 0}
                    return await phases(api, "with ModelRoute", args.pods, concurrencies, processes)

            async def litellm_pods() -> dict[int, CreateFigures]:
                async with api_of(cp) as api:
                    processes = {**servers, "operator": operator.process.pid if operator.process else 0}
                    label = "LiteLLM with ModelRoute"
                    return await phases(api, label, args.pods, concurrencies, processes, world.litellm_pod)

            governed = asyncio.run(with_webhooks())
            mounted = asyncio.run(litellm_pods())
        finally:
            operator.stop()

        async def sent() -> tuple[dict[str, Any], list[dict[str, Any]]]:
            async with api_of(cp) as api:
                return await as_sent(api, f"{phase_prefix(TWO_CALLS)}-c{concurrencies[0]}")

        in_process = judgement_in_process(*asyncio.run(sent()), args.pods)
    print("ratios to the cluster without webhooks (same run):")
    for clients in concurrencies:
        b = baseline[clients]
        for label, figures in (
            *((label, floor[clients]) for label, floor in floors.items()),
            ("ModelRoute", governed[clients]),
            ("ModelRoute, LiteLLM pods", mounted[clients]),
        ):
            print(
                f"  {clients:2d} clients, {label:30s}: p95 {figures.p(0.95) / b.p(0.95):.2f}x  "
                f"p50 {figures.p(0.5) / b.p(0.5):.2f}x  pods/s {figures.rate / b.rate:.2f}x"
            )
    print("ratios to the floors (same run):")
    for clients in concurrencies:
        ours, two, floor = governed[clients], floors[TWO_CALLS][clients], floors[FLOOR][clients]
        print(
            f"  {clients:2d} clients: p95 {ours.p(0.95) / two.p(0.95):.2f}x two allow-all webhooks, "
            f"{ours.p(0.95) / floor.p(0.95):.2f}x {FLOOR}; operator CPU per pod {ours.cpu_ms['operator']:.2f} ms, "
            f"{times(ours.cpu_ms['operator'], floor.cpu_ms[FLOOR_SERVER])} the floor server's "
            f"{floor.cpu_ms[FLOOR_SERVER]:.2f} ms (allow-all server {two.cpu_ms['allow-all server']:.2f} ms)"
        )
    first, floor_ms = concurrencies[0], floors[FLOOR][concurrencies[0]].cpu_ms[FLOOR_SERVER]
    print(
        f"  judging in process, no I/O ({args.pods} copies of a pod as the API server sent it): {in_process:.2f} ms "
        f"CPU per pod; with the floor server's {floor_ms:.2f} ms that is {in_process + floor_ms:.2f} ms, against the "
        f"operator's {governed[first].cpu_ms['operator']:.2f} ms at {first} client{'s' if first > 1 else ''}"
    )
    print("target: ModelRoute p95 <= 1.5x at both concurrencies")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
