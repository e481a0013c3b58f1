"""Fuzzed manifests through `modelroute check`: whatever the input, the exit code is honest (0, 1 or 2,
never an internal error), no traceback reaches the user, and every verdict equals the engine's on the
same object.

Every test run includes a bounded smoke (40 examples per property, fixed seed); a long run:

    MODELROUTE_FUZZ_EXAMPLES=5000 python -m pytest tests/fuzz
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import string
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from junitparser import JUnitXml
from tests.unit.builders import endpoint_manifest, policy_manifest, workload_manifest

from modelroute.cli.manifests import Document, build_context
from modelroute.engine.evaluate import evaluate
from modelroute.main import main

CONTOSO = "https://contoso.openai.azure.com"
#: bought from Microsoft under a purchase order
PURCHASED = {"channel": "Microsoft", "reference": "PO-1"}
_EXAMPLES = int(os.environ.get("MODELROUTE_FUZZ_EXAMPLES", "40"))
fuzz = settings(
    max_examples=_EXAMPLES,
    deadline=None,
    derandomize=_EXAMPLES <= 40,  # the smoke is reproducible; a long run explores
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

CONTEXT = [
    endpoint_manifest(url=CONTOSO),
    workload_manifest(namespace="default", procurement=PURCHASED),
    policy_manifest("enforce", enforcement="Enforce"),
]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
hosts = st.sampled_from(
    ["api.openai.com", "contoso.openai.azure.com", "evil.example", "127.0.0.1", "[::1]", "xn--80ak6aa92e.com", ""]
)
segments = st.text(alphabet=string.ascii_letters + string.digits + "-._~%$()/@:", max_size=12)
urls = st.builds(
    lambda scheme, user, host, port, path, query: f"{scheme}://{user}{host}{port}/{path}{query}",
    st.sampled_from(["https", "http", "HTTPS", "ftp"]),
    st.sampled_from(["", "user:key@", "a@b@"]),
    hosts,
    st.sampled_from(["", ":443", ":8443", ":99999", ":x"]),
    segments,
    st.sampled_from(["", "?api-key=k", "#frag"]),
)
env_names = st.sampled_from(
    ["OPENAI_BASE_URL", "AZURE_OPENAI_ENDPOINT", "OPENAI_API_KEY", "OPENAI_API_TYPE", "HTTPS_PROXY", "OTHER"]
)
env_values = st.one_of(urls, st.text(max_size=40), st.sampled_from(["$(OPENAI_API_KEY)", "azure", "bedrock"]))
env_entries = st.one_of(
    st.fixed_dictionaries({"name": env_names, "value": env_values}),
    st.fixed_dictionaries({"name": env_names}, optional={"valueFrom": json_values}),
    json_values,
)
containers = st.fixed_dictionaries(
    {"name": st.text(min_size=1, max_size=8), "image": st.just("registry.example.com/app:1")},
    optional={
        "env": st.lists(env_entries, max_size=5) | json_values,
        "args": st.lists(st.one_of(urls, st.text(max_size=30)), max_size=3),
        "command": st.lists(st.text(max_size=30), max_size=2) | json_values,
        "envFrom": json_values,
    },
)
metadata = st.fixed_dictionaries(
    {"name": st.text(min_size=1, max_size=12)},
    optional={
        "namespace": st.sampled_from(["default", "kube-system", "other"]) | json_values,
        "labels": st.dictionaries(st.sampled_from(["app", "tier"]), st.sampled_from(["chat", "web"])) | json_values,
        "annotations": st.dictionaries(st.sampled_from(["modelroute.io/decision", "x"]), st.text(max_size=8)),
    },
)
pod_specs = st.fixed_dictionaries(
    {"containers": st.lists(containers, min_size=1, max_size=3)},
    optional={"initContainers": st.lists(containers, max_size=2), "hostAliases": json_values},
)


def workload_object(kind: str, meta: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
    template = {"metadata": {"labels": meta.get("labels")}, "spec": spec}
    api = "batch/v1" if kind in ("Job", "CronJob") else "apps/v1"
    body = {"template": template} if kind != "CronJob" else {"jobTemplate": {"spec": {"template": template}}}
    return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": body}


objects = st.builds(
    workload_object,
    st.sampled_from(["Pod", "Deployment", "StatefulSet", "Job", "CronJob"]),
    metadata,
    pod_specs | json_values,
)


def check(path: Path, output: str = "json") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check", str(path), "-o", output, "-j", "1"])
    return code, out.getvalue(), err.getvalue()


def assert_honest(code: int, out: str, err: str) -> None:
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in out + err
    if code == 2:
        named = err.startswith("modelroute: error: ") and ": document " in err
        # a run that judged nothing fails closed (nothing read as a pod is never a pass)
        assert named or ": cannot read" in err or err.startswith("modelroute: error: nothing judged: "), err


@fuzz
@given(st.lists(objects, min_size=1, max_size=4))
def test_verdicts_equal_the_engines_on_the_same_objects(tmp_path_factory: Any, fuzzed: list[dict[str, Any]]) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "manifests.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [*CONTEXT, *fuzzed]}))
    code, out, err = check(path)
    assert_honest(code, out, err)
    if code == 2:
        return
    results = json.loads(out)["results"]
    documents = [Document(str(path), f"1.items[{i}]", obj) for i, obj in enumerate(CONTEXT)]
    context = build_context(documents, "default", "modelroute-system")
    assert len(results) == len(fuzzed)
    for result, obj in zip(results, fuzzed, strict=True):
        decision = evaluate(obj, context, "default")
        assert (result["allowed"], result["decision"]) == (decision.allowed, str(decision.outcome))
        assert [v["code"] for v in result["violations"]] == [str(v.code) for v in decision.violations]
    assert code == (1 if any(not r["allowed"] for r in results) else 0)


@fuzz
@given(st.lists(objects | json_values, min_size=1, max_size=4))
def test_yaml_streams_of_any_shape_get_an_honest_exit_code(tmp_path_factory: Any, fuzzed: list[Any]) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "manifests.yaml"
    path.write_text(yaml.safe_dump_all([*CONTEXT, *fuzzed]))
    assert_honest(*check(path))


@fuzz
@given(st.text(max_size=400))
def test_any_text_gets_an_honest_exit_code(tmp_path_factory: Any, text: str) -> None:
    for suffix in (".yaml", ".json"):
        path = tmp_path_factory.mktemp("fuzz") / f"input{suffix}"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        assert_honest(*check(path))


@fuzz
@given(st.binary(max_size=300))
def test_any_bytes_get_an_honest_exit_code(tmp_path_factory: Any, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "input.yaml"
    path.write_bytes(data)
    assert_honest(*check(path))


def assert_parses(output: str, out: str, judged: int, denied: int) -> None:
    """A verdict in any format is a well-formed document that counts what the JSON verdict counts."""
    if output == "sarif":
        log = json.loads(out)
        assert log["version"] == "2.1.0", out
        assert len(log["runs"]) == 1, out
    elif output == "junit":
        suites = JUnitXml.fromstring(out)
        assert (suites.tests, suites.failures) == (judged, denied), out
    else:
        summary = (yaml.safe_load(out) if output == "yaml" else json.loads(out))["summary"]
        assert (summary["judged"], summary["denied"]) == (judged, denied), out


def assert_every_format_honest(path: Path) -> int:
    """Each output format keeps the JSON run's exit code (so no format turns input the gate could not read
    into a pass) and, when it judged, prints a document its format's parser reads."""
    code, out, err = check(path)
    assert_honest(code, out, err)
    summary = json.loads(out)["summary"] if code != 2 else None
    for output in ("sarif", "junit", "yaml"):
        again, printed, complaint = check(path, output)
        assert_honest(again, printed, complaint)
        assert again == code, (output, again, code, complaint)
        if summary is not None:
            assert_parses(output, printed, summary["judged"], summary["denied"])
        else:
            assert complaint == err, (output, complaint, err)
    return code


@fuzz
@given(st.lists(objects | json_values, min_size=1, max_size=4))
def test_every_format_of_a_yaml_stream_is_honest(tmp_path_factory: Any, fuzzed: list[Any]) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "manifests.yaml"
    path.write_text(yaml.safe_dump_all([*CONTEXT, *fuzzed]))
    assert_every_format_honest(path)


@fuzz
@given(st.text(max_size=400), st.sampled_from([".yaml", ".json"]))
def test_every_format_of_any_text_is_honest(tmp_path_factory: Any, text: str, suffix: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / f"input{suffix}"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    assert_every_format_honest(path)


@fuzz
@given(st.binary(max_size=300))
def test_every_format_of_any_bytes_is_honest(tmp_path_factory: Any, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "input.yaml"
    path.write_bytes(data)
    code = assert_every_format_honest(path)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        assert code == 2, "bytes that are not UTF-8 text were judged"
