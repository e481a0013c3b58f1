"""The test harness is a layer the operator never reaches: the import contract catches a planted import of
tests.harness in modelroute, and no module reaches the harness through a sys.path insert."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_import_contracts import lint_imports, tree  # noqa: F401 (the tree fixture)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "planted",
    [
        "from tests.harness.processes import wait_until",
        "import tests.harness.control_plane",
        "from hack import lockfile",
    ],
)
def test_the_operator_importing_the_harness_breaks_a_contract(tree: Path, planted: str) -> None:  # noqa: F811
    path = tree / "operator" / "modelroute" / "cluster" / "certs.py"
    path.write_text(path.read_text() + f"\n{planted}  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "The operator never imports the tests" in result.stdout


def test_no_module_edits_sys_path() -> None:
    edits = re.compile(r"sys\.path\.(insert|append|extend)|sys\.path\s*[+]?=")
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for top in ("operator", "tests", "hack")
        for path in sorted((ROOT / top).rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if edits.search(line) and path != Path(__file__).resolve()
    ]
    assert found == []
