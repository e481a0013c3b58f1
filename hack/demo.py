"""The main job on a local default: a real control plane, the CRDs, the operator and the examples.

Starts etcd, kube-apiserver and kube-controller-manager on loopback, installs the CRDs, runs
`modelroute run` with its webhooks registered, applies examples/ in order and tells what happened to
each object. Stops everything at the end, unless --keep is given (then `make demo-down` stops it).
Run from the repository's root as `python -m hack.demo` (hack/demo.sh does); the control plane and
the operator's process are the test harness's (tests.harness).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from tests.harness.control_plane import LocalCluster, binaries, stop_workdir
from tests.harness.operator import RunProcess

ROOT = Path(__file__).resolve().parents[1]
OPERATOR_NAMESPACE = "modelroute-system"
BOLD, GREEN, RED, YELLOW, DIM, RESET = (
    ("\033[1m", "\033[32m", "\033[31m", "\033[33m", "\033[2m", "\033[0m") if sys.stdout.isatty() else ("",) * 6
)


def say(text: str = "") -> None:
    print(text, flush=True)


class DemoOperator(RunProcess):
    """`modelroute run` in local mode under the default names: ready once its webhooks are registered."""

    def __init__(self, demo: Demo) -> None:
        super().__init__(demo.workdir)
        self.demo = demo

    @property
    def log_file(self) -> Path:
        return self.workdir / "operator.log"

    def arguments(self) -> list[str]:
        return [
            "--kubeconfig",
            str(self.demo.kubeconfig),
            "--namespace",
            OPERATOR_NAMESPACE,
            "--register-webhooks",
            "--webhook-addr",
            "127.0.0.1",
            "--cert-dir",
            str(self.workdir / "webhook-certs"),
            "--metrics-bind-address",
            "127.0.0.1:0",
        ]

    @property
    def pid_file(self) -> Path:
        return self.workdir / "operator.pid"  # `make demo-down` stops it by this pid

    def ready(self) -> bool:
        found = self.demo.kubectl("get", "validatingwebhookconfiguration", "modelroute", check=False)
        return found.returncode == 0


class Demo:
    def __init__(self, workdir: Path, bin_dir: Path) -> None:
        self.workdir = workdir
        self.bin_dir = bin_dir
        self.kubeconfig = workdir / "kubeconfig"
        self.operator = DemoOperator(self)

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise SystemExit(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
        return result

    def start_operator(self) -> None:
        try:
            self.operator.start(timeout=60)
        except RuntimeError as error:
            raise SystemExit(f"{error}\n(the whole log: {self.operator.log_file})") from None

    def apply_examples(self) -> list[tuple[dict[str, Any], bool, str]]:
        outcomes = []
        for path in sorted((ROOT / "examples").glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if not doc:
                    continue
                result = self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(doc), check=False)
                outcomes.append((doc, result.returncode == 0, result.stderr.strip()))
            time.sleep(0.5)  # let the operator's view catch up before objects that depend on these
        return outcomes

    def describe(self, doc: dict[str, Any], admitted: bool, stderr: str) -> None:
        kind, meta = doc["kind"], doc.get("metadata", {})
        where = f"{meta.get('namespace')}/{meta['name']}" if meta.get("namespace") else meta["name"]
        if not admitted:
            reason = stderr.split("denied the request:", 1)[-1].strip()
            say(f"{RED}REFUSED {RESET} {kind} {where}")
            for line in reason.splitlines():
                if line.startswith("- "):
                    say(f"           {line[2:]}")
            return
        say(f"{GREEN}ADMITTED{RESET} {kind} {where}")
        for line in stderr.splitlines():
            if line.startswith("Warning:"):
                say(f"           {YELLOW}{line}{RESET}")
        if kind in ("Pod", "Deployment"):
            self.describe_pods(meta.get("namespace", "default"), doc)

    def describe_pods(self, namespace: str, doc: dict[str, Any]) -> None:
        labels = (
            doc["spec"]["template"]["metadata"]["labels"]
            if doc["kind"] == "Deployment"
            else doc["metadata"].get("labels", {})
        )
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        pods: list[dict[str, Any]] = []
        for _ in range(40):
            pods = json.loads(self.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json").stdout)[
                "items"
            ]
            if pods:
                break
            time.sleep(0.25)
        for pod in pods[:1]:
            annotations = pod["metadata"].get("annotations", {})
            decision = annotations.get("modelroute.io/decision", "not model-backed: left untouched")
            injected = [e["name"] for c in pod["spec"]["containers"] for e in c.get("env", [])]
            say(f"           pod {pod['metadata']['name']}: {decision}")
            if "modelroute.io/workload" in annotations:
                say(
                    f"           channel {annotations['modelroute.io/procurement-channel']} via endpoint "
                    f"{annotations['modelroute.io/endpoint']} ({annotations['modelroute.io/endpoint-host']})"
                )
                say(f"           {DIM}env: {', '.join(injected)}{RESET}")

    def summary(self) -> None:
        say(f"\n{BOLD}What the operator recorded{RESET}")
        for args in (("get", "azureendpoints"), ("get", "modelworkloads", "-A"), ("get", "routepolicies")):
            say(self.kubectl(*args).stdout)
        events = self.kubectl("get", "events", "-A", "--field-selector", "source=modelroute", check=False).stdout
        say(events or "(no events)")

    def stop_operator(self) -> None:
        self.operator.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".demo")
    parser.add_argument("--keep", action="store_true", help="leave the control plane and operator running")
    args = parser.parse_args(argv)

    bin_dir = binaries(capture_log=False)  # $MODELROUTE_BIN_DIR when hack/demo.sh has built it
    stop_workdir(args.workdir)
    args.workdir.mkdir(parents=True, exist_ok=True)
    cluster = LocalCluster(args.workdir, bin_dir, detached=args.keep)
    say(f"{BOLD}Starting a local control plane{RESET} (etcd, kube-apiserver, kube-controller-manager) ...")
    cluster.start()
    demo = Demo(args.workdir, bin_dir)
    try:
        demo.kubectl("apply", "-f", str(ROOT / "crds"))
        demo.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        demo.kubectl("create", "namespace", OPERATOR_NAMESPACE)
        say(f"{BOLD}Starting the operator{RESET} (modelroute run --register-webhooks) ...")
        demo.start_operator()
        say(f"{BOLD}Applying examples/{RESET}\n")
        for doc, admitted, stderr in demo.apply_examples():
            demo.describe(doc, admitted, stderr)
        time.sleep(1.5)
        demo.summary()
    finally:
        if args.keep:
            say(f"\nLeft running. export KUBECONFIG={demo.kubeconfig}\nStop it with: make demo-down")
        else:
            demo.stop_operator()
            cluster.stop()
            say("\nStopped the operator and the control plane.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
