"""Throughput of `modelroute check` on a generated corpus, against baselines measured in the same run.

    python -m tests.bench.bench_check [--pods 10000]

Figures: objects per second through the console script (parse + judge + JSON out), beside
parsing alone with the same reader; the engine alone on parsed objects, beside a deep copy of each;
PyYAML's C loader as a reference reader. Wall-clock figures are best of N runs; the CPU seconds of
the console script and the load average are printed too, since on a shared machine the ratios and
the CPU time mean more than the wall clock.
"""

from __future__ import annotations

import argparse
import copy
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from modelroute.cli.manifests import build_context, chunks, open_sources, parse, read_documents
from modelroute.engine.evaluate import evaluate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NAMESPACES = ("chat", "rag", "web", "sandbox")
APPS = ("chat-api", "rag-worker", "web-assistant", "legacy-bot", "static-site")
ENV_CHOICES: tuple[dict[str, str], ...] = (
    {},
    {"OPENAI_BASE_URL": "https://contoso-eastus.openai.azure.com/openai/v1"},
    {"OPENAI_BASE_URL": "https://api.openai.com/v1"},
    {"OPENAI_API_KEY": "sk-x"},
    {"AZURE_OPENAI_ENDPOINT": "https://contoso-ai.azure-api.net", "OPENAI_API_VERSION": "2024-10-21"},
    {"LOG_LEVEL": "info", "DATABASE_URL": "postgres://db:5432/app"},
)


def generate_pod(rng: random.Random, index: int) -> dict[str, Any]:
    namespace = rng.choice(NAMESPACES)
    containers = []
    for c in range(rng.randint(1, 3)):
        env = rng.choice(ENV_CHOICES)
        containers.append(
            {
                "name": f"c{c}",
                "image": f"registry.example.com/app:{index % 50}",
                "env": [{"name": k, "value": v} for k, v in env.items()]
                + [{"name": f"FEATURE_{i}", "value": str(i)} for i in range(rng.randint(0, 8))],
                "args": ["--port=8080", "--log-format=json"],
            }
        )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"pod-{index}", "namespace": namespace, "labels": {"app": rng.choice(APPS)}},
        "spec": {"containers": containers},
    }
    if index % 4 == 0:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"deploy-{index}", "namespace": namespace},
            "spec": {
                "selector": {"matchLabels": pod["metadata"]["labels"]},
                "template": {"metadata": pod["metadata"] | {"name": None}, "spec": pod["spec"]},
            },
        }
    return pod


def write_corpus(directory: Path, pods: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    for example in EXAMPLES.glob("[0-3]*.yaml"):  # the policy context only
        shutil.copy(example, directory / example.name)
    per_file = 1000
    for start in range(0, pods, per_file):
        docs = [generate_pod(rng, i) for i in range(start, min(start + per_file, pods))]
        (directory / f"corpus-{start // per_file:03d}.yaml").write_text(yaml.safe_dump_all(docs))


def _best_of(runs: int, fn: Any) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def parse_with_the_reader(paths: list[str]) -> int:
    """What `check` spends on reading: every document cut out and parsed, nothing judged."""
    parsed = 0
    with open_sources(paths) as sources:
        for source in sources:
            for chunk in chunks(source):
                parse(source, chunk)
                parsed += 1
    return parsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--parse-only", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.parse_only:
        parse_with_the_reader([args.parse_only])
        return 0
    script = shutil.which("modelroute", path=str(Path(sys.executable).parent)) or "modelroute"

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp)
        write_corpus(corpus, args.pods)
        files = sorted(str(p) for p in corpus.glob("*.yaml"))
        pyyaml_only = [
            sys.executable,
            "-c",
            "import sys, yaml\nfor f in sys.argv[1:]: list(yaml.load_all(open(f), Loader=yaml.CSafeLoader))",
            *files,
        ]
        parse_only = [sys.executable, "-m", "tests.bench.bench_check", "--parse-only", str(corpus)]
        check = [script, "check", str(corpus), "-o", "json"]

        def run(cmd: list[str]) -> None:
            subprocess.run(cmd, stdout=subprocess.DEVNULL, check=False, cwd=Path(__file__).resolve().parents[2])

        load_before = os.getloadavg()[0]
        cpu_before = _children_cpu()
        t_check = _best_of(args.runs, lambda: run(check))
        cpu_check = (_children_cpu() - cpu_before) / args.runs
        t_parse = _best_of(args.runs, lambda: run(parse_only))
        t_pyyaml = _best_of(args.runs, lambda: run(pyyaml_only))

        documents = read_documents([str(corpus)])
        context = build_context(documents, "default", "modelroute-system")
        judged = [d.obj for d in documents if d.kind in ("Pod", "Deployment")]
        t_copy = _best_of(args.runs, lambda: [copy.deepcopy(o) for o in judged])
        t_engine = _best_of(args.runs, lambda: [evaluate(o, context) for o in judged])

    n = len(judged)
    print(f"corpus: {n} judged objects ({args.pods} generated; 1 in 4 a Deployment), best of {args.runs} runs")
    print(f"load average (1 min): {load_before:.2f} before, {os.getloadavg()[0]:.2f} after; {os.cpu_count()} CPUs")
    print(
        f"modelroute check -o json : {t_check:7.3f} s  {n / t_check:9.0f} objects/s"
        f"  ({cpu_check:.3f} CPU s per run: {n / cpu_check:.0f} objects per CPU second)"
    )
    print(
        f"  baseline: parse only   : {t_parse:7.3f} s  {n / t_parse:9.0f} objects/s"
        f"  -> check costs {t_check / t_parse:.2f}x parsing alone"
    )
    print(f"  reference: PyYAML C    : {t_pyyaml:7.3f} s  {n / t_pyyaml:9.0f} objects/s")
    print(f"engine alone (evaluate)  : {t_engine:7.3f} s  {n / t_engine:9.0f} objects/s")
    print(
        f"  baseline: deepcopy     : {t_copy:7.3f} s  {n / t_copy:9.0f} objects/s"
        f"  -> judging costs {t_engine / t_copy:.2f}x a deep copy"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
