"""The release's registry on loopback (tests/harness/registry.py, CNCF Distribution) with real helm: the packaged
chart is pushed and read back over HTTPS verified against the registry's own CA, and a client that
was not told to trust that CA, or that speaks plain HTTP, gets nothing."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from tests.harness import registry as oci
from tests.harness.control_plane import binaries

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "modelroute"
META = yaml.safe_load((CHART / "Chart.yaml").read_text())
# helm template otherwise assumes an old default version; this is the control plane's.
KUBE_VERSION = "v1.34.4"


@pytest.fixture(scope="module")
def local_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[oci.LocalRegistry]:
    try:
        started = oci.LocalRegistry(tmp_path_factory.mktemp("registry"), oci.build_registry())
        started.start()
    except oci.LocalRegistryError as e:
        pytest.fail(f"cannot start the registry: {e}", pytrace=False)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def helm(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    bin_dir = binaries()
    home = tmp_path_factory.mktemp("helm-home")
    return [
        "env",
        f"HELM_CACHE_HOME={home / 'cache'}",
        f"HELM_CONFIG_HOME={home / 'config'}",
        f"HELM_DATA_HOME={home / 'data'}",
        str(bin_dir / "helm"),
    ]


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)


@pytest.fixture(scope="module")
def pushed(local_registry: oci.LocalRegistry, helm: list[str], tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("chart")
    packaged = run([*helm, "package", str(CHART), "--destination", str(out)])
    assert packaged.returncode == 0, packaged.stderr
    archive = out / f"modelroute-{META['version']}.tgz"
    push = run(
        [*helm, "push", str(archive), f"oci://{local_registry.host}/charts", "--ca-file", str(local_registry.ca_file)]
    )
    print(f"\n{push.stderr.strip()}")
    assert push.returncode == 0, push.stderr
    assert f"Pushed: {local_registry.host}/charts/modelroute:{META['version']}" in push.stderr
    return f"oci://{local_registry.host}/charts/modelroute"


def test_the_pushed_chart_is_read_back_with_its_metadata(
    local_registry: oci.LocalRegistry, helm: list[str], pushed: str
) -> None:
    show = run([*helm, "show", "chart", pushed, "--version", META["version"], "--ca-file", str(local_registry.ca_file)])
    assert show.returncode == 0, show.stderr
    served = yaml.safe_load(show.stdout)
    assert served["version"] == META["version"]
    assert served["appVersion"] == META["appVersion"]
    assert served["annotations"]["artifacthub.io/images"] == META["annotations"]["artifacthub.io/images"]
    assert served["annotations"]["artifacthub.io/changes"] == META["annotations"]["artifacthub.io/changes"]


def test_the_chart_from_the_registry_renders_the_image_its_metadata_names(
    local_registry: oci.LocalRegistry, helm: list[str], pushed: str
) -> None:
    rendered = run(
        [
            *helm,
            "template",
            "modelroute",
            pushed,
            "--version",
            META["version"],
            "--ca-file",
            str(local_registry.ca_file),
            "--kube-version",
            KUBE_VERSION,
        ]
    )
    assert rendered.returncode == 0, rendered.stderr
    deployment = next(d for d in yaml.safe_load_all(rendered.stdout) if d and d["kind"] == "Deployment")
    (named,) = yaml.safe_load(META["annotations"]["artifacthub.io/images"])
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == named["image"]


def test_a_client_that_does_not_trust_the_registrys_ca_is_refused(
    local_registry: oci.LocalRegistry, helm: list[str], pushed: str
) -> None:
    untrusted = run([*helm, "show", "chart", pushed, "--version", META["version"]])
    print(f"\nwithout --ca-file: {untrusted.stderr.strip()}")
    assert untrusted.returncode != 0
    assert "certificate signed by unknown authority" in untrusted.stderr
    plain = run([*helm, "show", "chart", pushed, "--version", META["version"], "--plain-http"])
    print(f"with --plain-http: {plain.stderr.strip()}")
    assert plain.returncode != 0
