"""The monitoring suite's real tools: helm (built with the control plane) and promtool (hack/build-promtool.sh).

hack/test.sh builds both before pytest starts and passes their paths; run directly, the suite builds them
itself (cached under ~/.cache/modelroute). Either way a tool that cannot be built fails the tests that need
it, with the build's own words: a rule file nobody checked must not pass as a green run.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.harness.control_plane import LocalClusterError, binaries
from tests.harness.processes import HarnessError, run_build_script

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "modelroute"
PROMTOOL_ENV = "MODELROUTE_PROMTOOL"
RELEASE, NAMESPACE = "modelroute", "modelroute-system"
#: the control plane's version (hack/build-control-plane.sh): helm template otherwise assumes an older one
KUBE_VERSION = os.environ.get("KUBERNETES_VERSION", "v1.34.4")


@pytest.fixture(scope="session")
def promtool() -> Path:
    given = os.environ.get(PROMTOOL_ENV)
    if given:
        if not Path(given).is_file():
            pytest.fail(f"${PROMTOOL_ENV}={given} is not a file", pytrace=False)
        return Path(given)
    script = REPO_ROOT / "hack" / "build-promtool.sh"
    try:
        built = Path(run_build_script(script))
    except HarnessError as error:
        pytest.fail(f"promtool could not be built: {error}", pytrace=False)
    if not built.is_file():
        pytest.fail(f"{script} returned {built}, which is not a file", pytrace=False)
    return built


@pytest.fixture(scope="session")
def helm() -> Path:
    try:
        bin_dir = binaries()  # $MODELROUTE_BIN_DIR when hack/test.sh has built it
    except LocalClusterError as error:
        pytest.fail(f"helm could not be built: {error}", pytrace=False)
    if not (bin_dir / "helm").is_file():
        pytest.fail(f"{bin_dir} has no helm", pytrace=False)
    return bin_dir / "helm"


def render(helm: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """helm template of the chart as release `modelroute` in `modelroute-system`, with extra arguments."""
    result = subprocess.run(
        [str(helm), "template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if check and result.returncode != 0:
        pytest.fail(f"helm template {' '.join(args)} failed:\n{result.stderr}", pytrace=False)
    return result
