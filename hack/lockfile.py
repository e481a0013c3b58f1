"""The image's hash-locked runtime dependencies, requirements/runtime.lock, read and checked.

The lock is written by `uv pip compile` (`make lock`); this module only reads it, with `packaging`
for the requirement syntax and markers. Two checks use it:

- in sync with pyproject.toml (tests/unit/test_release.py): every runtime dependency pinned at a
  version its range allows, every pin hashed, and nothing pinned that nothing needs;
- the image's installed packages are the lock's (hack/release.sh, on `pip list` run in the image).

Command line::

    python hack/lockfile.py check                      # the lock against pyproject.toml
    python hack/lockfile.py image PIP_LIST_JSON        # an image's `pip list --format json` against the lock
    python hack/lockfile.py sbom CYCLONEDX_JSON        # an SBOM's components against the lock
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCK = REPO_ROOT / "requirements" / "runtime.lock"
PYPROJECT = REPO_ROOT / "pyproject.toml"
PROJECT = "modelroute"
# What the lock is for: the image's interpreter (CPython 3.11 on Linux).
TARGET = {"python_version": "3.11", "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"}
# How `uv pip compile` names the project's own pyproject.toml in a `# via` comment.
VIA_PROJECT = f"{PROJECT} (pyproject.toml)"


class LockError(ValueError):
    """The lock cannot be read: what and where."""


@dataclass
class Pin:
    name: str
    version: str
    line: int
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)


def read_lock(text: str, source: str = str(LOCK)) -> dict[str, Pin]:
    """The pins of a lock in pip's requirements format, by canonical name."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    logical, start = "", 0
    lines = text.splitlines()
    for number, raw in enumerate([*lines, ""], start=1):
        stripped = raw.strip()
        if logical:
            logical += " " + stripped.removesuffix("\\")
            if stripped.endswith("\\"):
                continue
            current = _add(pins, _pin(logical, start, source), source)
            logical = ""
            continue
        if stripped.startswith("#"):
            comment = stripped.lstrip("#").strip()
            if current is not None and comment.startswith("via"):
                rest = comment.removeprefix("via").strip()
                if rest:
                    current.via.append(rest)
            elif current is not None and raw.startswith("    #   "):
                current.via.append(comment)
            continue
        if not stripped:
            continue
        if stripped.startswith("-"):
            raise LockError(f"{source}:{number}: unexpected option {stripped.split()[0]!r}")
        logical, start = stripped.removesuffix("\\"), number
        if not stripped.endswith("\\"):
            current = _add(pins, _pin(logical, start, source), source)
            logical = ""
    return pins


def _add(pins: dict[str, Pin], pin: Pin, source: str) -> Pin:
    if pin.name in pins:
        raise LockError(f"{source}:{pin.line}: {pin.name} is pinned twice (first on line {pins[pin.name].line})")
    pins[pin.name] = pin
    return pin


def _pin(logical: str, line: int, source: str) -> Pin:
    requirement, *options = logical.split(" --")
    try:
        req = Requirement(requirement.strip())
    except InvalidRequirement as e:
        raise LockError(f"{source}:{line}: {e}") from e
    specs = list(req.specifier)
    if len(specs) != 1 or specs[0].operator != "==":
        raise LockError(f"{source}:{line}: {req.name} is not pinned with == ({req.specifier or 'no version'})")
    hashes = []
    for option in options:
        key, _, value = option.strip().partition("=")
        if key != "hash" or not value.startswith("sha256:"):
            raise LockError(f"{source}:{line}: unexpected option --{option.strip()}")
        hashes.append(value)
    return Pin(canonicalize_name(req.name), specs[0].version, line, hashes)


def runtime_requirements(pyproject: Path = PYPROJECT) -> list[Requirement]:
    """The project's runtime dependencies that apply to the image's interpreter."""
    declared = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    reqs = [Requirement(d) for d in declared]
    return [r for r in reqs if r.marker is None or r.marker.evaluate(TARGET)]


def sync_problems(pins: dict[str, Pin], requirements: list[Requirement]) -> list[str]:
    """Why the lock does not match the runtime dependencies; empty when it does."""
    problems = []
    wanted: dict[str, Requirement] = {canonicalize_name(r.name): r for r in requirements}
    for wanted_name, req in wanted.items():
        pin = pins.get(wanted_name)
        if pin is None:
            problems.append(f"{req} is a runtime dependency but is not in the lock")
        elif not req.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{wanted_name}=={pin.version} (line {pin.line}) is outside the declared range {req}")
    for name, pin in pins.items():
        if not pin.hashes:
            problems.append(f"{name}=={pin.version} (line {pin.line}) has no --hash")
        needed_by = {canonicalize_name(v.split()[0]) for v in pin.via if v != VIA_PROJECT}
        if VIA_PROJECT in pin.via and name not in wanted:
            problems.append(f"{name} (line {pin.line}) is locked for the project, which no longer depends on it")
        elif name not in wanted and not needed_by & pins.keys():
            problems.append(f"{name} (line {pin.line}) is locked but nothing locked needs it")
    return problems


def image_problems(pins: dict[str, Pin], installed: list[dict[str, str]], version: str) -> list[str]:
    """How an image's installed distributions (`pip list --format json`) differ from the lock."""
    have: dict[str, str] = {canonicalize_name(d["name"]): d["version"] for d in installed}
    problems = [
        f"{name}: the lock pins {pin.version}, the image has {have.get(name, 'none')}"
        for name, pin in pins.items()
        if have.get(name) != pin.version
    ]
    if have.get(PROJECT) != version:
        problems.append(f"{PROJECT}: expected {version}, the image has {have.get(PROJECT, 'none')}")
    return problems


def sbom_problems(pins: dict[str, Pin], bom: dict[str, object]) -> list[str]:
    """How a CycloneDX SBOM's components (name and version) differ from the lock."""
    components = bom.get("components")
    if not isinstance(components, list):
        return ["the SBOM has no components list"]
    found = {canonicalize_name(str(c.get("name"))): c for c in components if isinstance(c, dict)}
    problems = [
        f"{name}=={pin.version} is locked but not in the SBOM" for name, pin in pins.items() if name not in found
    ]
    for name, component in found.items():
        pin = pins.get(name)
        if pin is None:
            problems.append(f"{name} is in the SBOM but not in the lock")
        elif component.get("version") != pin.version:
            problems.append(f"{name}: the SBOM says {component.get('version')}, the lock pins {pin.version}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lockfile.py", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check")
    image = sub.add_parser("image")
    image.add_argument("pip_list", type=Path)
    sbom = sub.add_parser("sbom")
    sbom.add_argument("bom", type=Path)
    args = parser.parse_args(argv)
    try:
        pins = read_lock(LOCK.read_text())
    except (OSError, LockError) as e:
        print(f"lockfile: {e}", file=sys.stderr)
        return 1
    if args.command == "check":
        problems = sync_problems(pins, runtime_requirements())
    elif args.command == "sbom":
        problems = sbom_problems(pins, json.loads(args.bom.read_text()))
    else:
        version = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
        problems = image_problems(pins, json.loads(args.pip_list.read_text()), version)
    for problem in problems:
        print(f"lockfile: {problem}", file=sys.stderr)
    if not problems:
        print(f"lockfile: {len(pins)} pins, all as expected", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
