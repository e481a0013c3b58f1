"""Fuzzed input through `modelroute report --from` and `modelroute test`: an honest exit code whatever the
input (never an internal error, no traceback), and report cells that stay safe in every format."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz_check import CONTEXT, fuzz, json_values, objects

from modelroute.main import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def assert_honest(code: int, out: str, err: str, codes: tuple[int, ...]) -> None:
    assert code in codes, (code, err)
    assert "Traceback" not in out + err
    if code == 2:
        assert err.startswith("modelroute: error: "), err


counts = st.one_of(st.integers(min_value=-2, max_value=5), json_values)
cells = st.text(alphabet=st.sampled_from(["=", "+", "-", "@", "\t", "\r", "\n", "\x1b", "\u202e", "|", "a", ","]))


def _with_counts(obj: dict[str, Any], replicas: Any) -> dict[str, Any]:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec = {**spec, "replicas": replicas, "parallelism": replicas}
    return {**obj, "spec": spec}


@fuzz
@given(st.lists(st.tuples(objects, counts), min_size=1, max_size=4), cells, cells)
def test_report_from_fuzzed_manifests_is_honest_and_its_cells_are_safe(
    tmp_path_factory: Any, fuzzed: list[tuple[dict[str, Any], Any]], cost_center: str, reference: str
) -> None:
    context = json.loads(json.dumps(CONTEXT))
    context[1]["spec"]["procurement"] |= {"costCenter": cost_center, "reference": reference}
    path = tmp_path_factory.mktemp("fuzz") / "manifests.json"
    items = [*context, *(_with_counts(obj, n) for obj, n in fuzzed)]
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    for output in ("table", "markdown", "csv", "json"):
        code, out, err = run("report", "--from", str(path), "-o", output)
        assert_honest(code, out, err, (0, 2))
        if code == 2:
            continue
        assert "\x1b" not in out
        assert "\u202e" not in out
        if output == "csv":
            for record in csv.reader(io.StringIO(out)):
                assert not any(cell.startswith(_FORMULA) for cell in record), record
        if output == "json":
            rows = json.loads(out)["workloads"]
            assert rows[0]["cost_center"] == cost_center


expected_results = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {
                "kind": st.sampled_from(["Pod", "Deployment", "Job"]),
                "name": st.sampled_from(["legacy-bot", "chat-api", "reindex", "ghost"]),
                "decision": st.sampled_from(["denied", "compliant", "warned", "maybe"]),
            },
            optional={
                "namespace": st.sampled_from(["chat", "rag", "web"]),
                "violations": st.lists(st.sampled_from(["EndpointNotApproved", "UnmanagedOpenAITraffic", "X"])),
                "annotations": json_values,
                "injected": json_values,
            },
        ),
        json_values,
    ),
    max_size=4,
)
tests = st.fixed_dictionaries(
    {
        "apiVersion": st.sampled_from(["cli.modelroute.io/v1alpha1", "modelroute.io/v1alpha1"]),
        "kind": st.just("Test"),
        "metadata": st.one_of(st.just({"name": "fuzz"}), json_values),
        "context": st.just([str(EXAMPLES)]) | json_values,
        "resources": st.just([str(EXAMPLES / "50-violations.yaml")]) | json_values,
        "results": expected_results,
    },
    optional={"namespace": json_values, "unknown": json_values},
)


@fuzz
@given(st.lists(tests | json_values, min_size=1, max_size=3))
def test_modelroute_test_on_fuzzed_test_files_is_honest(tmp_path_factory: Any, fuzzed: list[Any]) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "modelroute-test.yaml"
    path.write_text(yaml.safe_dump_all(fuzzed))
    for output in ("text", "junit"):
        assert_honest(*run("test", str(path), "-o", output), (0, 1, 2))
