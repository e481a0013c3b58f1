"""A real Spring Boot 3.5 application with Spring AI 1.1's OpenAI starter (tests/clients/spring-probe,
built with Maven by hack/build-spring-probe.sh) binds its chat model's base URL from the files of its
working directory, configtree directories and its environment as the table says: the rules the
engine applies to mounted Spring configuration.

Each case is a working directory (`{dir}` in a file or a value is that directory) and an environment;
the probe starts the application context there and prints the base URL its OpenAiChatModel calls."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from real_clients import chat_base_url, spring_probe_jar

APPROVED = "https://contoso-eastus.openai.azure.com/openai"
OPENAI = "https://api.openai.com"
GATEWAY = "https://llm-gateway.example.net"
#: what ModelRoute's Spring AI profile writes (SPRING_AI_OPENAI_BASEURL and SPRING_AI_OPENAI_BASE_URL)
INJECTED = {"SPRING_AI_OPENAI_BASEURL": APPROVED, "SPRING_AI_OPENAI_BASE_URL": APPROVED}


@dataclass(frozen=True)
class SpringCase:
    name: str
    files: Mapping[str, str]
    env: Mapping[str, str]
    calls: str


CASES = (
    SpringCase("no configuration: Spring AI's default", {}, {}, OPENAI),
    SpringCase("the injected shared base URL", {}, INJECTED, APPROVED),
    SpringCase(
        "a per-model chat base-url in ./config/application.properties wins over the injected shared one",
        {"config/application.properties": f"spring.ai.openai.chat.base-url={OPENAI}\n"},
        INJECTED,
        OPENAI,
    ),
    SpringCase(
        "the same property in a file loses to the environment",
        {"config/application.yml": f"spring:\n  ai:\n    openai:\n      base-url: {OPENAI}\n"},
        INJECTED,
        APPROVED,
    ),
    SpringCase(
        "./config/ wins over ./ for the same property",
        {
            "application.properties": f"spring.ai.openai.base-url={OPENAI}\n",
            "config/application.properties": f"spring.ai.openai.base-url={GATEWAY}\n",
        },
        {},
        GATEWAY,
    ),
    SpringCase(
        "a configtree imported by a file: each file name is a property",
        {
            "config/application.properties": "spring.config.import=optional:configtree:{dir}/etc/openai/\n",
            "etc/openai/spring.ai.openai.chat.base-url": OPENAI,
        },
        INJECTED,
        OPENAI,
    ),
    SpringCase(
        "a configtree imported by SPRING_CONFIG_IMPORT, nested directories as the name",
        {"etc/tree/spring/ai/openai/chat/base-url": GATEWAY + "\n"},
        {**INJECTED, "SPRING_CONFIG_IMPORT": "configtree:{dir}/etc/tree/"},
        GATEWAY,
    ),
    SpringCase(
        "SPRING_CONFIG_ADDITIONAL_LOCATION adds a directory",
        {"mounted/application.properties": f"spring.ai.openai.chat.base-url={OPENAI}\n"},
        {**INJECTED, "SPRING_CONFIG_ADDITIONAL_LOCATION": "file:{dir}/mounted/"},
        OPENAI,
    ),
    SpringCase(
        "SPRING_CONFIG_LOCATION replaces the default locations",
        {
            "config/application.properties": f"spring.ai.openai.chat.base-url={OPENAI}\n",
            "only/application.properties": "spring.application.name=probe\n",
        },
        {**INJECTED, "SPRING_CONFIG_LOCATION": "file:{dir}/only/"},
        APPROVED,
    ),
    SpringCase(
        "a profile's file is read when the profile is active",
        {"config/application-prod.properties": f"spring.ai.openai.chat.base-url={OPENAI}\n"},
        {**INJECTED, "SPRING_PROFILES_ACTIVE": "prod"},
        OPENAI,
    ),
    SpringCase(
        "a profile's file is not read otherwise",
        {"config/application-prod.properties": f"spring.ai.openai.chat.base-url={OPENAI}\n"},
        INJECTED,
        APPROVED,
    ),
    SpringCase(
        "a placeholder in a file reads the environment",
        {"config/application.properties": "spring.ai.openai.chat.base-url=${CORP_AI_URL}\n"},
        {**INJECTED, "CORP_AI_URL": GATEWAY},
        GATEWAY,
    ),
    SpringCase(
        "the per-model property from the environment (relaxed binding) wins over the file's",
        {"config/application.properties": f"spring.ai.openai.chat.base-url={OPENAI}\n"},
        {**INJECTED, "SPRING_AI_OPENAI_CHAT_BASEURL": APPROVED},
        APPROVED,
    ),
)


@pytest.fixture(scope="module")
def probe_jar() -> Path:
    return spring_probe_jar()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_spring_ai_binds_the_chat_base_url_as_the_table_says(case: SpringCase, probe_jar: Path, tmp_path: Path) -> None:
    for relative, text in case.files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("{dir}", str(tmp_path)))
    env = {name: value.replace("{dir}", str(tmp_path)) for name, value in case.env.items()}
    assert chat_base_url(probe_jar, tmp_path, env) == case.calls
