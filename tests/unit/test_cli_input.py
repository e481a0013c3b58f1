"""`modelroute check` on hostile or broken input: exit 2 naming the file and document, never a traceback,
nothing skipped silently, bounded work, and a terminal that shows input instead of obeying it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.unit.command_line import modelroute

from modelroute import main as cli
from modelroute.cli import manifests

DIRECT = {"name": "OPENAI_BASE_URL", "value": "https://api.openai.com/v1"}
ENFORCE = {
    "apiVersion": "modelroute.io/v1alpha1",
    "kind": "RoutePolicy",
    "metadata": {"name": "enforce"},
    "spec": {"enforcement": "Enforce"},
}


def pod(name: str = "p", namespace: str = "default", env: list[dict[str, str]] | None = None) -> dict[str, object]:
    container: dict[str, object] = {"name": "app", "image": "registry.example.com/app:1"}
    if env:
        container["env"] = env
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [container]},
    }


def assert_bad_input(result: subprocess.CompletedProcess[str], *where: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout[-500:], result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("modelroute: error: ")
    for part in where:
        assert part in result.stderr, result.stderr


def write_docs(path: Path, *docs: object) -> Path:
    path.write_text(yaml.safe_dump_all(docs))
    return path


def test_json_nested_a_thousand_deep_is_bad_input_naming_the_file(tmp_path: Path) -> None:
    body = pod()
    body["spec"]["containers"][0]["args"] = "DEEP"  # type: ignore[index]
    path = tmp_path / "deep.json"
    path.write_text(json.dumps(body).replace('"DEEP"', "[" * 1000 + "]" * 1000))
    assert_bad_input(modelroute("check", str(path)), f"{path}: document 1")


def test_yaml_nested_a_thousand_deep_is_bad_input_naming_the_document(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(yaml.safe_dump(pod()) + "---\nvalue: " + "[" * 1000 + "]" * 1000 + "\n")
    assert_bad_input(modelroute("check", str(path)), f"{path}: document 2")


def test_namespace_labels_given_as_a_list_are_bad_input(tmp_path: Path) -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team", "labels": ["a", "b"]}}
    path = write_docs(tmp_path / "ns.yaml", namespace, pod(namespace="team"))
    assert_bad_input(modelroute("check", str(path)), f"{path}: document 1", "metadata.labels must be a mapping")


@pytest.mark.parametrize("field", ["name", "namespace", "generateName"])
def test_list_typed_metadata_strings_are_bad_input(tmp_path: Path, field: str) -> None:
    body = pod()
    body["metadata"][field] = ["a", "b"]  # type: ignore[index]
    path = write_docs(tmp_path / "pod.yaml", pod("first"), body)
    assert_bad_input(modelroute("check", str(path)), f"{path}: document 2", f"metadata.{field} must be a string")


def test_a_violation_behind_a_symlinked_directory_is_judged(tmp_path: Path) -> None:
    real = tmp_path / "elsewhere"
    real.mkdir()
    write_docs(real / "direct.yaml", pod("direct", env=[DIRECT]))
    tree = tmp_path / "tree"
    tree.mkdir()
    write_docs(tree / "policy.yaml", ENFORCE)
    (tree / "linked").symlink_to(real, target_is_directory=True)
    result = modelroute("check", str(tree))
    assert result.returncode == 1, result.stderr
    assert "DENY  Pod default/direct" in result.stdout


def test_a_symlink_loop_is_bad_input_naming_it(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    write_docs(tree / "pod.yaml", pod())
    (tree / "sub" / "back").symlink_to(tree, target_is_directory=True)
    assert_bad_input(modelroute("check", str(tree)), "symlink loop", str(tree / "sub" / "back"))


def test_a_directory_reached_twice_through_symlinks_is_judged_once(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "real").mkdir(parents=True)
    write_docs(tree / "real" / "pod.yaml", pod())
    (tree / "alias").symlink_to(tree / "real", target_is_directory=True)
    result = modelroute("check", str(tree))
    assert result.returncode == 0, result.stderr
    assert "1 judged" in result.stdout


@pytest.mark.parametrize("target", ["missing.yaml", "self"], ids=["dangling", "self-loop"])
def test_an_entry_that_cannot_be_read_fails_instead_of_being_skipped(tmp_path: Path, target: str) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    write_docs(tree / "pod.yaml", pod())
    broken = tree / ("self" if target == "self" else "broken.yaml")
    broken.symlink_to(broken if target == "self" else tree / target)
    assert_bad_input(modelroute("check", str(tree)), str(broken), "cannot read")


def test_a_directory_that_cannot_be_listed_fails_instead_of_being_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Tests may run as root, for whom permission bits do not stop a read: the refusal is simulated.
    tree = tmp_path / "tree"
    (tree / "locked").mkdir(parents=True)
    write_docs(tree / "pod.yaml", pod())
    real_scandir = os.scandir

    def scandir(path: str | os.PathLike[str]) -> object:
        if isinstance(path, str | os.PathLike) and Path(path) == tree / "locked":
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(manifests.os, "scandir", scandir)
    assert cli.main(["check", str(tree)]) == 2
    err = capsys.readouterr().err
    assert f"{tree / 'locked'}: cannot read this directory: Permission denied" in err


def test_an_anchor_of_a_mebibyte_referenced_thousands_of_times_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "amplified.yaml"
    aliases = "\n".join(f"  - name: V{i}\n    value: *big" for i in range(4000))
    path.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n"
        f'    big: &big "{"A" * (1 << 20)}"\n'
        f"spec:\n  containers:\n  - name: app\n    env:\n{aliases}\n"
    )
    for command in ("check", "mutate"):
        result = modelroute(command, str(path))
        assert_bad_input(result, f"{path}: document 1", "YAML aliases expand it past")
        assert len(result.stdout) < 1 << 20


def test_small_aliases_are_still_read(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
        "  - name: a\n    env: &env [{name: OPENAI_BASE_URL, value: 'https://api.openai.com/v1'}]\n"
        "  - name: b\n    env: *env\n"
    )
    result = modelroute("check", str(path), "-o", "json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["results"]) == 1


def _peak_rss_kib(path: Path) -> int:
    # VmHWM is this process's own peak (ru_maxrss would carry the parent's over exec).
    code = (
        "import sys\nfrom modelroute.main import main\n"
        "sys.stdout = open('/dev/null', 'w')\nmain(['check', sys.argv[1]])\n"
        "peak = next(l for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
        "print(peak.split()[1], file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    return int(result.stderr.strip().splitlines()[-1])


def test_memory_stays_flat_in_the_number_of_documents(tmp_path: Path) -> None:
    def corpus(name: str, count: int) -> Path:
        # The same values in every pod, so the engine's bounded caches stay small either way.
        env = [DIRECT, *({"name": f"FEATURE_{i}", "value": "on"} for i in range(30))]
        return write_docs(tmp_path / name, *(pod(f"p{i}", env=env) for i in range(count)))

    small, large = _peak_rss_kib(corpus("small.yaml", 200)), _peak_rss_kib(corpus("large.yaml", 6000))
    # Holding 5,800 more parsed pods of 30 variables and their results would take tens of MiB.
    assert large - small < 8 * 1024, (small, large)


def test_control_characters_in_names_are_escaped_in_text_output(tmp_path: Path) -> None:
    path = write_docs(tmp_path / "pod.yaml", pod("evil\x1b[2J\x1b]0;owned\x07\u202e"))
    result = modelroute("check", str(path))
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout
    assert "\x07" not in result.stdout
    assert "\u202e" not in result.stdout
    assert "evil\\x1b[2J\\x1b]0;owned\\x07\\u202e" in result.stdout


def test_control_characters_in_an_error_are_escaped(tmp_path: Path) -> None:
    body = pod()
    body["kind"] = "Deployment\x1b[31m"
    body["metadata"]["name"] = ["x"]  # type: ignore[index]
    path = write_docs(tmp_path / "pod.yaml", body)
    result = modelroute("check", str(path))
    assert_bad_input(result, "Deployment\\x1b[31m")
    assert "\x1b" not in result.stderr


def test_invalid_yaml_names_the_document_and_its_line_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(pod()) + "---\n" + yaml.safe_dump(pod("q")) + "---\nkind: [\n")
    assert_bad_input(modelroute("check", str(path)), f"{path}: document 3: invalid YAML at line")


def test_duplicate_keys_are_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nmetadata: {name: q}\nspec: {containers: []}\n")
    assert_bad_input(modelroute("check", str(path)), f"{path}: document 1", "duplicate")


def test_stdin_is_read_once_and_judged(tmp_path: Path) -> None:
    stdin = yaml.safe_dump_all([ENFORCE, pod("direct", env=[DIRECT])])
    result = modelroute("check", "-", stdin=stdin)
    assert result.returncode == 1, result.stderr
    assert "-: document 2" in result.stdout
