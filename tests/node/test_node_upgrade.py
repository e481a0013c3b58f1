"""Upgrade and rollback on the real node under a steady stream of pod creates: from the chart as it was
before it upgraded its CRDs (an earlier commit of this repository, installed from `crds/` only) to this
chart with a CRD schema change, then `helm rollback` to the first revision. Not one create may fail, and
every pod admitted must carry the annotations the mutating webhook writes (none admitted unjudged)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from node_kit import (
    CHART,
    INSTANCE_SELECTOR,
    RELEASE,
    RELEASE_NAMESPACE,
    REPO_ROOT,
    Node,
    chart_image_values,
    governed_namespace,
    pod_body,
)
from tests.harness.client import apply, eventually, get

#: the last commit whose chart installed its CRDs from crds/ alone (no upgrade hook, no enforcement check)
PREVIOUS_CHART_COMMIT = "85c6f09fc209a935c382ec8bfaf165477ea57eb7"
STREAM_NAMESPACE = "node-upgrade-stream"
ENDPOINT = "node-upgrade-aoai"
#: the schema change the upgrade brings: a new optional field of RoutePolicy.spec
NEW_FIELD = "reviewedBy"
ROUTE_POLICIES_CRD = "routepolicies.modelroute.io"
GATE = [{"name": "modelroute.io/node-check"}]
HELM_TIMEOUT = ["--wait", "--wait-for-jobs", "--timeout", "300s"]


def previous_chart(workdir: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", PREVIOUS_CHART_COMMIT, "charts/modelroute"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        pytest.fail(f"cannot read the previous chart at {PREVIOUS_CHART_COMMIT}: {archive.stderr.decode()}")
    subprocess.run(["tar", "-x", "-C", str(workdir)], input=archive.stdout, check=True)
    return workdir / "charts" / "modelroute"


def next_chart(workdir: Path) -> Path:
    """This chart, with a new optional RoutePolicy field in its CRD and a new chart version."""
    chart = workdir / "next" / "modelroute"
    shutil.copytree(CHART, chart)
    crd_file = chart / "crds" / "modelroute.io_routepolicies.yaml"
    crd = yaml.safe_load(crd_file.read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"][NEW_FIELD] = {"type": "string", "description": "Who last reviewed this policy."}
    crd_file.write_text(yaml.safe_dump(crd, sort_keys=False))
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    meta["version"] = meta["version"] + "-next"
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    return chart


def served_fields(node: Node) -> set[str]:
    crd = get(node.kube, "crd", ROUTE_POLICIES_CRD)
    return set(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"])


@dataclass
class Stream:
    """Pod creates, one after another, into a governed namespace, each of a pod a ModelWorkload covers."""

    node: Node
    prefix: str
    created: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    n: int = 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.n += 1
            name = f"{self.prefix}-{self.n}"
            body = pod_body(self.node, name, STREAM_NAMESPACE, labels={"app": "stream"})
            body["spec"]["schedulingGates"] = GATE  # admission is the subject, not the node
            result = self.node.kube.kubectl("create", "-f", "-", input=yaml.safe_dump(body), check=False)
            if result.returncode == 0:
                self.created.append(name)
            else:
                self.failures.append(f"{name}: {result.stderr.strip()}")
            time.sleep(0.1)

    def during(self, action: Any) -> None:
        worker = threading.Thread(target=self.run)
        worker.start()
        try:
            time.sleep(3)
            action()
            time.sleep(3)
        finally:
            self.stop.set()
            worker.join()

    def unjudged(self) -> list[str]:
        pods = get(self.node.kube, "pods", "-n", STREAM_NAMESPACE)["items"]
        judged = {
            p["metadata"]["name"]
            for p in pods
            if (p["metadata"].get("annotations") or {}).get("modelroute.io/workload") == "stream"
            and (p["metadata"].get("annotations") or {}).get("modelroute.io/decision")
        }
        return [name for name in self.created if name not in judged]


@pytest.fixture(scope="module")
def charts() -> Iterator[tuple[Path, Path]]:
    with tempfile.TemporaryDirectory(prefix="modelroute-charts-") as tmp:
        yield previous_chart(Path(tmp)), next_chart(Path(tmp))


@pytest.fixture(scope="module")
def previous_release(node: Node, charts: tuple[Path, Path]) -> Iterator[str]:
    previous, _ = charts
    # the cluster starts from the previous chart's CRDs, as a cluster that installed that version has them
    node.kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(previous / "crds"))
    assert NEW_FIELD not in served_fields(node)
    images = chart_image_values(node.image("modelroute"))
    node.kube.helm(
        "install", RELEASE, str(previous), "-n", RELEASE_NAMESPACE, "--create-namespace", *images,
        "--set", "routePolicy.create=false", *HELM_TIMEOUT, timeout=330,
    )  # fmt: skip
    governed_namespace(node, STREAM_NAMESPACE, enforcement="Enforce")
    apply(
        node.kube,
        {
            "apiVersion": "modelroute.io/v1alpha1",
            "kind": "AzureEndpoint",
            "metadata": {"name": ENDPOINT},
            "spec": {"url": "https://contoso-upgrade.openai.azure.com", "defaultApiVersion": "2024-10-21"},
        },
        {
            "apiVersion": "modelroute.io/v1alpha1",
            "kind": "ModelWorkload",
            "metadata": {"name": "stream", "namespace": STREAM_NAMESPACE},
            "spec": {
                "selector": {"matchLabels": {"app": "stream"}},
                "endpointRef": {"name": ENDPOINT},
                "procurement": {"channel": "Microsoft"},
            },
        },
    )
    eventually(
        lambda: any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in get(node.kube, "mw", "stream", "-n", STREAM_NAMESPACE).get("status", {}).get("conditions", [])
        ),
        "the stream's ModelWorkload to be Ready",
        120,
    )
    try:
        yield RELEASE_NAMESPACE
    finally:
        node.kube.helm("uninstall", RELEASE, "-n", RELEASE_NAMESPACE, "--wait", check=False)
        node.kube.kubectl("delete", "namespace", STREAM_NAMESPACE, "--wait=false", check=False)
        node.kube.kubectl("delete", "azureendpoint", ENDPOINT, "--ignore-not-found", check=False)
        node.kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CHART / "crds"), check=False)


def test_upgrading_from_the_previous_chart_with_a_crd_change_fails_no_admission(
    node: Node, charts: tuple[Path, Path], previous_release: str
) -> None:
    _, upgraded = charts
    stream = Stream(node, "upgrade")
    images = chart_image_values(node.image("modelroute"))
    started = time.monotonic()
    stream.during(
        lambda: node.kube.helm(
            "upgrade",
            RELEASE,
            str(upgraded),
            "-n",
            previous_release,
            *images,
            "--set",
            "routePolicy.create=false",
            *HELM_TIMEOUT,
            timeout=330,
        )
    )
    unjudged = stream.unjudged()
    print(
        f"\nhelm upgrade from {PREVIOUS_CHART_COMMIT[:7]} to this chart ({time.monotonic() - started:.0f}s): "
        f"{len(stream.created)} pod creates admitted, {len(stream.failures)} failed admissions, "
        f"{len(unjudged)} admitted unjudged"
    )
    assert stream.failures == []
    assert unjudged == []
    assert len(stream.created) >= 10
    assert NEW_FIELD in served_fields(node), "the upgrade brought the new CRD schema"
    hooks = node.kube.kubectl("get", "jobs", "-n", previous_release, "-l", INSTANCE_SELECTOR, "-o", "name").stdout
    assert hooks.strip() == "", f"the hook Jobs succeeded and were removed: {hooks}"


def test_rolling_back_to_the_previous_chart_fails_no_admission_and_keeps_the_newer_crds(
    node: Node, previous_release: str
) -> None:
    stream = Stream(node, "rollback")
    stream.during(lambda: node.kube.helm("rollback", RELEASE, "1", "-n", previous_release, *HELM_TIMEOUT, timeout=330))
    unjudged = stream.unjudged()
    revision = node.kube.helm("history", RELEASE, "-n", previous_release, "-o", "yaml").stdout
    print(
        f"\nhelm rollback to revision 1: {len(stream.created)} pod creates admitted, "
        f"{len(stream.failures)} failed admissions, {len(unjudged)} admitted unjudged"
    )
    assert stream.failures == []
    assert unjudged == []
    assert len(stream.created) >= 10
    assert yaml.safe_load(revision)[-1]["description"].startswith("Rollback to 1")
    assert NEW_FIELD in served_fields(node), "rollback leaves the CRDs at the newer schema"
