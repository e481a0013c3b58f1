"""Properties of the whole decision: no URL whose real host is not the approved one is ever admitted."""

from __future__ import annotations

import openai
from builders import APPROVED_HOST, container, context, judge, pod, policy
from hypothesis import given, settings
from hypothesis import strategies as st

CONTEXT = context()

approved_spellings = st.sampled_from(
    [
        APPROVED_HOST,
        APPROVED_HOST.upper(),
        APPROVED_HOST + ".",
        "Contoso-EastUS.OpenAI.Azure.com",
        "contoso-eastus%2eopenai.azure.com",
    ]
)
other_hosts = st.sampled_from(
    [
        "api.openai.com",
        "evil.example.com",
        "contoso-eastus.openai.azure.com.evil.com",
        "eastus.openai.azure.com",
        "xn--contoso-eastus.openai.azure.com",
        "127.0.0.1",
        "[::1]",
        "2130706433",
        "contoso-eastus.openai.azure.co",
        "contoso-eastus-openai.azure.com",
        "evilcontoso-eastus.openai.azure.com",
    ]
)
userinfo = st.one_of(
    st.just(""),
    st.sampled_from(
        [
            f"{APPROVED_HOST}@",
            "user:pw@",
            f"x:{APPROVED_HOST}@",
            "a%40b@",
        ]
    ),
)
ports = st.sampled_from(["", ":443", ":8443", ":0443", ":", ":80"])
paths = st.sampled_from(["", "/", "/openai/v1", f"/@{APPROVED_HOST}", "?x=@evil.com", "#@evil.com", "\\@evil.com"])
schemes = st.sampled_from(["https://", "HTTPS://", "http://", "https:/", " https://"])


def _real_host_port(url: str) -> tuple[str, int] | None:
    """Where the real openai SDK would connect; None if it refuses the URL."""
    try:
        parsed = openai.OpenAI(api_key="unused", base_url=url).base_url
    except Exception:
        return None
    if not parsed.host:
        return None
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return parsed.host.rstrip(".").lower(), port


@settings(max_examples=400, deadline=None)
@given(schemes, userinfo, st.one_of(approved_spellings, other_hosts), ports, paths)
def test_only_urls_that_really_reach_the_approved_host_are_admitted(
    scheme: str, user: str, host: str, port: str, path: str
) -> None:
    url = f"{scheme}{user}{host}{port}{path}"
    decision = judge(pod(container(env={"OPENAI_BASE_URL": url})), CONTEXT)
    if decision.allowed:
        assert _real_host_port(url) in (None, (APPROVED_HOST, 443)), url


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=80))
def test_arbitrary_env_values_never_crash_the_engine(value: str) -> None:
    judge(pod(container(env={"OPENAI_BASE_URL": value, "OTHER": value}, args=[value])), CONTEXT)


env_names = st.sampled_from(
    ["OPENAI_BASE_URL", "OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "OPENAI_API_BASE", "OPENAI_API_TYPE", "OTHER"]
)
env_values = st.one_of(st.text(max_size=40), st.sampled_from(["https://api.openai.com/v1", f"https://{APPROVED_HOST}"]))


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(env_names, env_values, max_size=4),
    st.booleans(),
    st.sampled_from(["Enforce", "Warn", "Audit"]),
)
def test_the_produced_pod_is_judged_as_if_it_had_been_sent_on_its_own(
    env: dict[str, str], rewrite: bool, enforcement: str
) -> None:
    from modelroute.engine.evaluate import evaluate, evaluate_produced

    ctx = context(policies=[policy(rewrite=rewrite, enforcement=enforcement)])
    subject = pod(container(env=env))
    decision = judge(subject, ctx)
    # a pod with no patch is the pod it produces
    produced = decision.produced if decision.patch else subject
    assert produced is not None
    assert evaluate_produced(decision) == evaluate(produced, ctx, mutate=False)


junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "name",
                    "value",
                    "valueFrom",
                    "configMapRef",
                    "configMapKeyRef",
                    "secretKeyRef",
                    "key",
                    "prefix",
                    "optional",
                ]
            )
            | st.text(max_size=3),
            children,
            max_size=3,
        )
    ),
    max_leaves=12,
)
places = st.sampled_from(
    [
        ("containers",),
        ("containers", 0, "env"),
        ("containers", 0, "env", 0, "valueFrom"),
        ("containers", 0, "env", 0, "valueFrom", "configMapKeyRef"),
        ("containers", 0, "envFrom"),
        ("containers", 0, "envFrom", 0, "configMapRef"),
        ("containers", 0, "args"),
        ("containers", 0, "env", 1, "value"),
        ("initContainers",),
        ("containers", 0, "name"),
    ]
)


@settings(max_examples=300, deadline=None)
@given(places, junk)
def test_malformed_pod_specs_get_a_clear_error_never_a_crash(place: tuple[object, ...], value: object) -> None:
    from modelroute.engine.evaluate import evaluate
    from modelroute.engine.podspec import NotAPodError

    env = [
        {"name": "OPENAI_BASE_URL", "valueFrom": {"configMapKeyRef": {"name": "m", "key": "k"}}},
        {"name": "OTHER", "value": "x"},
    ]
    spec: dict[str, object] = {"containers": [{"name": "c", "env": env, "envFrom": [{"configMapRef": {"name": "m"}}]}]}
    node: object = spec
    for step in place[:-1]:
        node = node[step]  # type: ignore[index]
    node[place[-1]] = value  # type: ignore[index]
    obj = {"kind": "Pod", "metadata": {"name": "x", "namespace": "apps"}, "spec": spec}
    try:
        evaluate(obj, CONTEXT)
    except NotAPodError as error:
        message = str(error)
        assert message.startswith("spec.")
