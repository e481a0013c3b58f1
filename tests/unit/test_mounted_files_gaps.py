"""Mounted configuration a client reads that is easy to miss: a ConfigMap's binaryData keys, a dotenv
file a shell sources over the environment, and the Codex CLI's built-in default endpoint."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from builders import APPROVED_URL, codes, container, context, judge, pod, workload

from modelroute.engine.context import config_map_data
from modelroute.engine.detection import inspect_pod_spec

OPENAI = "https://api.openai.com/v1"
APPROVED_V1 = APPROVED_URL + "/openai/v1"


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def binary_pod(
    binary: dict[str, str], *, data: dict[str, str] | None = None, **fields: Any
) -> tuple[dict[str, Any], dict[tuple[str, str], Any]]:
    app = container(volumeMounts=[{"name": "conf", "mountPath": "/srv"}], **fields)
    obj = pod(app, volumes=[{"name": "conf", "configMap": {"name": "app-config"}}])
    body = {"data": data or {}, "binaryData": binary}
    return obj, {("apps", "app-config"): config_map_data(body)}


def targets_of(obj: dict[str, Any], config_maps: Any) -> list[Any]:
    return [t for f in inspect_pod_spec(obj["spec"], "spec", "apps", config_maps) for t in f.targets]


# -- binaryData ---------------------------------------------------------------------------------


def test_a_binary_data_dotenv_and_properties_file_are_judged_like_data_files() -> None:
    obj, cms = binary_pod(
        {".env": b64(f"OPENAI_API_BASE={OPENAI}\n"),
         "application.properties": b64("spring.ai.openai.chat.base-url=https://api.openai.com\n")},
        workingDir="/srv",
    )  # fmt: skip
    decision = judge(obj, context(config_maps=cms, workloads=[workload(inject={"profiles": ["OpenAI"]})]))
    assert not decision.allowed
    messages = " ".join(v.message for v in decision.violations)
    assert "OPENAI_API_BASE in /srv/.env" in messages
    assert "spring.ai.openai.chat.base-url" in messages
    assert "binaryData key '.env'" in messages


def test_a_binary_data_file_a_variable_names_is_read() -> None:
    obj, cms = binary_pod({"app.env": b64(f"OPENAI_BASE_URL={OPENAI}\n")}, env={"DOTENV_PATH": "/srv/app.env"})
    assert [t.url.host for t in targets_of(obj, cms) if "volumeMounts" in t.field] == ["api.openai.com"]


def test_any_other_binary_data_file_is_scanned_for_model_host_urls() -> None:
    obj, cms = binary_pod({"gateway.ini": b64(f"[upstream]\nurl = {OPENAI}/chat\n")})
    assert [t.url.host for t in targets_of(obj, cms)] == ["api.openai.com"]


def test_binary_data_that_is_not_utf8_is_unreadable_where_a_client_loads_it_and_ignored_elsewhere() -> None:
    garbage = b64(b"\xff\xfe\x00\x81 not text")
    obj, cms = binary_pod({".env": garbage, "logo.png": garbage}, workingDir="/srv")
    decision = judge(obj, context(config_maps=cms))
    assert codes(decision) == ["UnreadableConfigFile"]
    assert "/srv/.env" in decision.violations[0].message
    assert "logo.png" not in decision.violations[0].message
    obj, cms = binary_pod({"logo.png": garbage, "cert.der": garbage}, workingDir="/srv")
    assert codes(judge(obj, context(config_maps=cms))) == []


def test_env_references_read_only_data_never_binary_data() -> None:
    body = {"data": {"url": APPROVED_V1}, "binaryData": {"url": b64(OPENAI), "other": b64(OPENAI)}}
    cms = {("apps", "app-config"): config_map_data(body)}
    ref = {"configMapRef": {"name": "app-config"}}
    obj = pod(container(envFrom=[ref], env=None))
    hosts = {t.url.host for t in targets_of(obj, cms) if t.url is not None}
    assert "api.openai.com" not in hosts
    assert dict(cms[("apps", "app-config")]) == {"url": APPROVED_V1}


# -- the Codex CLI with no mounted config.toml --------------------------------------------------

CODEX_KEY = {"name": "OPENAI_API_KEY", "valueFrom": {"secretKeyRef": {"name": "k", "key": "k"}}}
CODEX_CONFIG = f'openai_base_url = "{APPROVED_V1}"\n'


def codex_pod(
    command: list[str], files: dict[str, str] | None = None, secret: bool = False, env: list[Any] | None = None
) -> Any:
    """A pod running `command` with an API key from a Secret, and a config.toml volume at /home/u/.codex."""
    mounts, volumes = [], []
    if files is not None or secret:
        mounts = [{"name": "codex", "mountPath": "/home/u/.codex"}]
        source = {"secret": {"secretName": "codex"}} if secret else {"configMap": {"name": "codex"}}
        volumes = [{"name": "codex", **source}]
    app = container(command=command, volumeMounts=mounts)
    app["env"] = env or [CODEX_KEY]
    return pod(app, volumes=volumes), {("apps", "codex"): files or {}}


@pytest.mark.parametrize(
    "command",
    [
        ["npx", "@openai/codex", "exec", "summarise"],
        ["npx", "-y", "@openai/codex@0.171.0", "exec", "summarise"],
        ["codex", "exec", "summarise"],
        ["/usr/local/bin/codex", "exec", "--full-auto", "fix the tests"],
        ["sh", "-c", "cd /work && exec codex exec 'summarise the logs'"],
        ["bash", "-lc", "npm exec -- @openai/codex exec summarise"],
    ],
    ids=["npx", "npx-y-version", "codex", "codex-path", "sh-c", "npm-exec"],
)
def test_the_codex_cli_without_a_mounted_config_calls_openai_itself(command: list[str]) -> None:
    obj, cms = codex_pod(command)
    decision = judge(obj, context(config_maps=cms, workloads=[workload(inject={"profiles": ["OpenAI"]})]))
    assert codes(decision) == ["DefaultOpenAIEndpoint"], decision.violations
    (violation,) = decision.violations
    assert violation.field == "spec.containers[0].command"
    assert "the Codex CLI" in violation.message
    assert "config.toml" in violation.message
    assert "openai_base_url, or the selected model provider's base_url" in violation.message


def test_the_codex_cli_without_a_config_at_its_home_names_the_path_it_reads() -> None:
    obj, cms = codex_pod(["codex", "exec", "summarise"])
    obj["spec"]["containers"][0]["env"].append({"name": "HOME", "value": "/home/u"})
    decision = judge(obj, context(config_maps=cms))
    assert codes(decision) == ["DefaultOpenAIEndpoint"]
    assert "no config.toml mounted at /home/u/.codex/config.toml" in decision.violations[0].message


def test_the_codex_cli_with_a_mounted_config_routing_to_the_approved_endpoint_is_compliant() -> None:
    for home in ({"name": "HOME", "value": "/home/u"}, None):
        obj, cms = codex_pod(["npx", "@openai/codex", "exec", "summarise"], {"config.toml": CODEX_CONFIG})
        if home is not None:
            obj["spec"]["containers"][0]["env"].append(home)
        decision = judge(obj, context(config_maps=cms))
        assert decision.allowed, decision.violations


def test_the_codex_cli_with_a_mounted_config_routing_elsewhere_is_denied_for_the_file() -> None:
    obj, cms = codex_pod(["codex", "exec", "x"], {"config.toml": 'model = "gpt-5"\n'})
    decision = judge(obj, context(config_maps=cms))
    assert codes(decision) == ["DefaultOpenAIEndpoint"]
    assert "openai_base_url" in decision.violations[0].message
    assert decision.violations[0].field == "spec.containers[0].volumeMounts[0]"


def test_the_codex_cli_with_its_config_from_a_secret_is_not_visible() -> None:
    obj, cms = codex_pod(["codex", "exec", "x"], secret=True, env=[CODEX_KEY, {"name": "HOME", "value": "/home/u"}])
    decision = judge(obj, context(config_maps=cms))
    assert set(codes(decision)) == {"EndpointNotVisible"}  # config.toml and the .env beside it
    assert "config.toml" in decision.violations[0].message


@pytest.mark.parametrize(
    "command",
    [
        ["python", "app.py", "--model", "codex"],
        ["sh", "-c", "echo codex && exec python app.py"],
        ["npx", "@openai/codex-sdk-docs"],
    ],
    ids=["an-argument", "echoed", "another-package"],
)
def test_a_command_that_only_mentions_codex_is_not_the_codex_cli(command: list[str]) -> None:
    obj, cms = codex_pod(command)
    assert judge(obj, context(config_maps=cms)).allowed


# -- a dotenv file a shell sources ------------------------------------------------------------------


def sourced_pod(files: dict[str, str], **fields: Any) -> tuple[dict[str, Any], Any]:
    """A pod whose env already routes to the approved endpoint, with a ConfigMap mounted at /srv."""
    app = container(
        env={"OPENAI_BASE_URL": APPROVED_V1, "OPENAI_API_BASE": APPROVED_V1},
        volumeMounts=[{"name": "conf", "mountPath": "/srv"}],
        **fields,
    )
    obj = pod(app, volumes=[{"name": "conf", "configMap": {"name": "app-config"}}])
    return obj, {("apps", "app-config"): files}


@pytest.mark.parametrize(
    ("command", "args"),
    [
        (["sh", "-c", ". /srv/.env && exec python app.py"], None),
        (["/bin/bash", "-c", "source .env; exec python app.py"], None),
        (["sh", "-c"], ["set -a; . ./settings.env; set +a; exec python app.py"]),
        (["sh", "-c", "export $(cat /srv/.env | xargs) && exec node server.js"], None),
        (["sh", "-c", "export $(grep -v '^#' .env | xargs) && exec node server.js"], None),
        (["sh", "-c", "env $(cat .env) python app.py"], None),
        (["bash", "-lc", "source /srv/.env\nexec python app.py"], None),
        (["ash", "-c", ". /srv/app.sh; exec ./server"], None),
        (["dash", "-e", "-c", ". ./.env && exec ./server"], None),
    ],
    ids=[
        "dot",
        "source",
        "set-a",
        "export-cat-xargs",
        "export-grep-xargs",
        "env-cat",
        "bash-lc",
        "ash-any-name",
        "dash",
    ],
)
def test_a_dotenv_file_a_shell_sources_overrides_the_environment(command: list[str], args: list[str] | None) -> None:
    text = f"# routes\nexport OPENAI_BASE_URL={OPENAI}\n"
    line = " ".join(command + (args or []))
    files = {next(name for name in ("settings.env", "app.sh", ".env") if name in line): text}
    obj, cms = sourced_pod(files, workingDir="/srv", command=command, **({"args": args} if args else {}))
    decision = judge(obj, context(config_maps=cms))
    assert codes(decision) == ["EndpointNotApproved"], decision.violations
    (violation,) = decision.violations
    assert "OPENAI_BASE_URL in /srv/" in violation.message
    assert "which the container's shell sources over its environment" in violation.message
    assert "stop sourcing it" in violation.message
    assert violation.field == "spec.containers[0].volumeMounts[0]"


def test_a_sourced_file_expands_its_own_earlier_lines_over_the_environment() -> None:
    text = "HOST=api.openai.com\nOPENAI_BASE_URL=https://${HOST}/v1\n"
    obj, cms = sourced_pod({".env": text}, command=["sh", "-c", ". /srv/.env; exec ./app"])
    obj["spec"]["containers"][0]["env"].append({"name": "HOST", "value": APPROVED_URL.removeprefix("https://")})
    decision = judge(obj, context(config_maps=cms))
    assert codes(decision) == ["EndpointNotApproved"]
    assert "api.openai.com" in decision.violations[0].message


def test_a_sourced_dotenv_file_from_a_secret_or_the_image_is_not_visible() -> None:
    app = container(
        command=["sh", "-c", ". /secrets/app.env && . /opt/app/.env && exec python app.py"],
        volumeMounts=[{"name": "s", "mountPath": "/secrets"}],
    )
    obj = pod(app, volumes=[{"name": "s", "secret": {"secretName": "app-env"}}])
    decision = judge(obj, context())
    assert codes(decision) == ["EndpointNotVisible", "EndpointNotVisible"], decision.violations
    messages = " ".join(v.message for v in decision.violations)
    assert "/secrets/app.env" in messages
    assert "/opt/app/.env" in messages


def test_a_dotenv_file_no_shell_sources_still_leaves_the_environment_winning() -> None:
    files = {".env": f"OPENAI_BASE_URL={OPENAI}\n"}
    for fields in (
        {"args": ["python", "app.py"]},
        {"command": ["sh", "-c", "exec python app.py"]},
        {"command": ["sh", "-c", "cat /srv/.env; grep x .env; exec python -m app"]},
    ):
        obj, cms = sourced_pod(files, workingDir="/srv", **fields)
        decision = judge(obj, context(config_maps=cms))
        assert decision.allowed, (fields, decision.violations)


def test_a_sourced_script_the_image_holds_is_not_reported() -> None:
    obj, cms = sourced_pod(
        {}, command=["sh", "-c", ". /opt/venv/bin/activate && source ~/.profile && exec python app.py"]
    )
    decision = judge(obj, context(config_maps=cms))
    assert decision.allowed, decision.violations


def test_a_sourced_path_is_expanded_from_the_env_and_xargs_may_read_it_from_stdin() -> None:
    files = {".env": f"OPENAI_BASE_URL={OPENAI}\n"}
    for script in ('. "$APP_DIR/.env" && exec ./app', "export $(xargs < ${APP_DIR}/.env) && exec ./app"):
        obj, cms = sourced_pod(files, command=["sh", "-c", script])
        obj["spec"]["containers"][0]["env"].append({"name": "APP_DIR", "value": "/srv"})
        decision = judge(obj, context(config_maps=cms))
        assert codes(decision) == ["EndpointNotApproved"], (script, decision.violations)
        assert "OPENAI_BASE_URL in /srv/.env" in decision.violations[0].message
