"""The pre-commit hook this repository publishes (`.pre-commit-hooks.yaml`), run by the real `pre-commit`
tool in a scratch git repository that pins this checkout at its HEAD commit: pre-commit clones it, installs
the hook's environment with pip, and the commit is refused on a violating manifest, with the verdict shown.

The first run installs the hook's environment from PyPI into a temporary PRE_COMMIT_HOME (a minute or two).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
POLICY_CONTEXT = [
    "00-namespaces.yaml",
    "10-azure-endpoints.yaml",
    "20-route-policies.yaml",
    "30-model-workloads.yaml",
]
INSTALL_TIMEOUT = 1200  # seconds: the first run pip-installs the hook's environment


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


@pytest.fixture(scope="module")
def scratch_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A git repository with the examples' policy context and a config pinning this checkout's HEAD."""
    repo = tmp_path_factory.mktemp("precommit-repo")
    home = tmp_path_factory.mktemp("precommit-home")
    git(repo, "init", "-q")
    (repo / "policies").mkdir()
    for name in POLICY_CONTEXT:
        shutil.copy(EXAMPLES / name, repo / "policies" / name)
    (repo / "manifests").mkdir()
    shutil.copy(EXAMPLES / "50-violations.yaml", repo / "manifests" / "violations.yaml")
    shutil.copy(EXAMPLES / "40-compliant.yaml", repo / "manifests" / "compliant.yaml")
    config = {
        "repos": [
            {
                "repo": str(ROOT),
                "rev": git(ROOT, "rev-parse", "HEAD"),
                "hooks": [{"id": "modelroute-check", "args": ["policies/"], "files": "^manifests/"}],
            }
        ]
    }
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    git(repo, "add", "-A")
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never", "NO_COLOR": "1"}
    env.pop("VIRTUAL_ENV", None)
    return repo, env


def pre_commit_run(repo: Path, env: dict[str, str], *files: str) -> tuple[int, str]:
    """The exit code of `pre-commit run --files FILES...` and all it printed."""
    command = [sys.executable, "-m", "pre_commit", "run", "--color", "never", "--files", *files]
    done = subprocess.run(
        command, cwd=repo, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
    )
    return done.returncode, done.stdout + done.stderr


def test_a_staged_violating_manifest_fails_the_hook_with_the_verdict(scratch_repo: tuple[Path, dict[str, str]]) -> None:
    repo, env = scratch_repo
    returncode, output = pre_commit_run(repo, env, "manifests/violations.yaml")
    assert returncode == 1, output
    assert "modelroute check" in output, output
    assert "Failed" in output, output
    assert "DENY  Pod chat/legacy-bot  denied [Enforce]" in output, output
    assert "x DefaultOpenAIEndpoint" in output, output
    assert "4 denied" in output, output
    assert "Traceback" not in output, output


def test_a_staged_compliant_manifest_passes_the_hook(scratch_repo: tuple[Path, dict[str, str]]) -> None:
    repo, env = scratch_repo
    returncode, output = pre_commit_run(repo, env, "manifests/compliant.yaml")
    assert returncode == 0, output
    assert "modelroute check" in output, output
    assert "Passed" in output, output


def test_a_commit_touching_no_manifest_skips_the_hook(scratch_repo: tuple[Path, dict[str, str]]) -> None:
    repo, env = scratch_repo
    returncode, output = pre_commit_run(repo, env, ".pre-commit-config.yaml")
    assert returncode == 0, output
    assert "Skipped" in output, output
