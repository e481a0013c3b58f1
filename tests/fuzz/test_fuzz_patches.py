"""Every patch the mutating webhook answers applies to the object it was sent, whatever that object looks like:
odd annotation keys (`~`, `/`, ModelRoute's own prefix, empty), absent or empty metadata, duplicate env names,
containers without names, ephemeral and init containers, lists where maps are expected. The review goes through
the same code path the server runs (AdmissionService.review: parse, judge, answer bytes), and the patch is read
back from the answer and applied with the `jsonpatch` library, as the API server applies it.

The examples found by long runs are kept below as regression cases. A long run:

    MODELROUTE_FUZZ_EXAMPLES=5000 python -m pytest tests/fuzz/test_fuzz_patches.py
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import jsonpatch
import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from tests.fuzz import test_fuzz_check as manifests
from tests.fuzz.test_fuzz_reviews import Logged, cluster_state
from tests.unit.builders import endpoint_manifest, policy_manifest, workload_manifest

from modelroute.admission import configurations as cfg
from modelroute.admission.webhooks import AdmissionService
from modelroute.api import annotations as ann
from modelroute.observability import Metrics

#: a context that writes as much as the engine can write: several client profiles, a credentials Secret
#: reference, a proxy (and its NO_PROXY), values rewritten in place, and ConfigMap values pinned
REWRITING = [
    endpoint_manifest(url=manifests.CONTOSO, egress={"proxy": "http://proxy.example:3128"}),
    workload_manifest(
        namespace="default",
        procurement=manifests.PURCHASED,
        inject={
            "profiles": ["OpenAI", "AzureOpenAI", "LangChain", "LiteLLM", "SpringAI"],
            "credentialsSecretRef": {"name": "openai", "key": "api-key"},
        },
    ),
    policy_manifest("rewrite", enforcement="Warn", rewrite=True),
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "default"},
        "data": {"url": "https://contoso.openai.azure.com", "OPENAI_BASE_URL": "https://api.openai.com/v1"},
    },
]


OWN = "modelroute.io/"
annotation_keys = st.one_of(
    st.sampled_from(["a", "a/b", "a~b", "~", "/", "~1", "~0/", "", OWN + "decision", OWN + "x~y/z", OWN, OWN + "~1"]),
    st.text(alphabet="ab~/.", max_size=6),
    st.text(alphabet="ab~/.", max_size=6).map(lambda k: OWN + k),
)
annotation_maps = st.dictionaries(annotation_keys, st.text(max_size=4), max_size=5)
label_maps: st.SearchStrategy[dict[str, str]] = st.one_of(
    st.just({"app": "chat"}),
    st.just({}),
    st.dictionaries(st.sampled_from(["app", "tier"]), st.sampled_from(["chat", "web"])),
    st.just({"app": "chat", ann.ENFORCEMENT_PROBE: "x"}),
)
env_names = st.sampled_from(
    [
        "OPENAI_BASE_URL",
        "AZURE_OPENAI_ENDPOINT",
        "OPENAI_API_VERSION",
        "OPENAI_API_KEY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "JAVA_TOOL_OPTIONS",
        "SPRING_APPLICATION_JSON",
        "X",
    ]
)
env_values = st.sampled_from(
    [
        "https://api.openai.com/v1",
        "https://contoso.openai.azure.com",
        "2024-10-21",
        "sk-x",
        "",
        "$(X)",
        "$$(X)",
        "-Dopenai.baseUrl=https://api.openai.com/v1",
        '{"spring.ai.openai.base-url": "https://api.openai.com"}',
    ]
)
env_entries = st.one_of(
    st.fixed_dictionaries({"name": env_names, "value": env_values}),
    st.fixed_dictionaries({"name": env_names}),
    st.fixed_dictionaries(
        {"name": env_names, "valueFrom": st.just({"configMapKeyRef": {"name": "settings", "key": "url"}})}
    ),
    st.fixed_dictionaries({"name": env_names, "value": env_values, "extra": st.integers(min_value=2**64)}),
    manifests.json_values,
)
containers = st.one_of(
    st.fixed_dictionaries(
        {"image": st.just("registry.example.com/app:1")},
        optional={
            "name": st.sampled_from(["app", "app", "side", ""]),
            "env": st.one_of(st.lists(env_entries, max_size=5), st.none(), st.just({}), manifests.json_values),
            "envFrom": st.one_of(st.just([{"configMapRef": {"name": "settings"}}]), manifests.json_values),
        },
    ),
    manifests.json_values,
)
container_lists = st.one_of(st.lists(containers, max_size=3), st.none(), st.just({}), manifests.json_values)
specs = st.one_of(
    st.fixed_dictionaries(
        {"containers": container_lists},
        optional={"initContainers": container_lists, "ephemeralContainers": container_lists},
    ),
    manifests.json_values,
)
metadata = st.fixed_dictionaries(
    {},
    optional={
        "name": st.just("p"),
        "namespace": st.sampled_from(["default", "other", "kube-system", ""]),
        "labels": st.one_of(label_maps, manifests.json_values),
        "annotations": st.one_of(annotation_maps, st.none(), st.just([]), manifests.json_values),
    },
)


@st.composite
def pods(draw: st.DrawFn) -> dict[str, Any]:
    pod: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod"}
    shape = draw(st.sampled_from(["metadata", "absent", "null", "empty"]))
    if shape == "metadata":
        pod["metadata"] = draw(metadata)
    elif shape == "null":
        pod["metadata"] = None
    elif shape == "empty":
        pod["metadata"] = {}
    if draw(st.integers(0, 9)):
        pod["spec"] = draw(specs)
    return pod


fuzzed_pods = st.one_of(pods(), manifests.objects.filter(lambda o: o["kind"] == "Pod"))


def review(obj: dict[str, Any], namespace: str | None) -> bytes:
    request: dict[str, Any] = {
        "uid": str(uuid.uuid4()),
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "operation": "CREATE",
        "userInfo": {"username": "fuzz"},
        "object": obj,
    }
    if namespace is not None:
        request["namespace"] = namespace
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}).encode()


class Service:
    def __init__(self, bodies: list[dict[str, Any]]) -> None:
        self.logged = Logged()
        self.loop = asyncio.new_event_loop()
        self.service = AdmissionService(cluster_state(bodies), Metrics(), lambda: None, self._no_read)

    @staticmethod
    async def _no_read(_: str) -> dict[str, Any] | None:
        return None

    def patch_for(self, obj: dict[str, Any], namespace: str | None) -> list[dict[str, Any]] | None:
        reply = self.loop.run_until_complete(self.service.review(cfg.MUTATE_PODS, review(obj, namespace)))
        if reply.status != 200:
            return None
        response = orjson.loads(reply.body)["response"]
        assert response["allowed"] is True, response
        if "patch" not in response:
            return None
        assert response["patchType"] == "JSONPatch"
        patch: list[dict[str, Any]] = orjson.loads(base64.b64decode(response["patch"]))
        return patch


@pytest.fixture(scope="module", params=["enforcing", "rewriting"])
def service(request: pytest.FixtureRequest) -> Iterator[Service]:
    served = Service(manifests.CONTEXT if request.param == "enforcing" else REWRITING)
    logged = Logged()
    root = logging.getLogger()
    root.addHandler(logged)
    served.logged = logged
    try:
        yield served
    finally:
        root.removeHandler(logged)
        served.loop.close()


def assert_applies(service: Service, pod: dict[str, Any], namespace: str | None) -> None:
    sent = copy.deepcopy(pod)
    patch = service.patch_for(pod, namespace)
    if patch is None:
        service.loop.run_until_complete(asyncio.sleep(0))
        assert service.logged.bad == [], service.logged.bad
        return
    # the produced pod is judged after the answer (call_soon): let it run, and say if anything failed
    service.loop.run_until_complete(asyncio.sleep(0))
    assert service.logged.bad == [], service.logged.bad
    try:
        jsonpatch.apply_patch(sent, patch)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
        raise AssertionError(
            f"the answer's patch does not apply to the object sent: {error}\n{patch}\n{sent}"
        ) from None


CONFIGURED = {"image": "registry.example.com/app:1", "envFrom": [{"configMapRef": {"name": "settings"}}]}


@manifests.fuzz
@given(fuzzed_pods, st.sampled_from(["default", "other", "kube-system", None]))
# found: no metadata at all, the annotations patch had no /metadata to write into
@example(pod={"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [CONFIGURED]}}, namespace="default")
# found: metadata null, the same
@example(
    pod={"apiVersion": "v1", "kind": "Pod", "metadata": None, "spec": {"containers": [CONFIGURED]}}, namespace="default"
)
# found: the same through the default namespace, which the review does not name
@example(pod={"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "app"}]}}, namespace=None)
# found: a namespace that is not a string (a traceback and a refusal instead of an answer)
@example(
    pod={"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": ["default"]}, "spec": {"containers": []}},
    namespace=None,
)
def test_every_patch_the_mutating_webhook_answers_applies_to_the_object_it_was_sent(
    service: Service, pod: dict[str, Any], namespace: str | None
) -> None:
    assert_applies(service, pod, namespace)
