"""Which ConfigMaps a pod spec reads."""

from __future__ import annotations

from modelroute.engine.references import config_maps_read


def test_a_spec_with_no_references_reads_no_config_map() -> None:
    assert config_maps_read({"containers": [{"name": "app", "env": [{"name": "A", "value": "1"}]}]}) == frozenset()


def test_env_value_from_a_config_map_key_is_a_read() -> None:
    spec = {
        "containers": [
            {"name": "app", "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "a"}}}]}
        ]
    }
    assert config_maps_read(spec) == {"settings"}


def test_env_from_a_config_map_is_a_read_and_a_secret_is_not() -> None:
    spec = {
        "containers": [{"name": "app", "envFrom": [{"configMapRef": {"name": "env"}}, {"secretRef": {"name": "s"}}]}]
    }
    assert config_maps_read(spec) == {"env"}


def test_config_map_and_projected_volumes_are_reads() -> None:
    spec = {
        "containers": [{"name": "app"}],
        "volumes": [
            {"name": "config", "configMap": {"name": "litellm"}},
            {"name": "tls", "secret": {"secretName": "tls"}},
            {
                "name": "all",
                "projected": {
                    "sources": [{"configMap": {"name": "codex"}}, {"secret": {"name": "s"}}, {"downwardAPI": {}}]
                },
            },
        ],
    }
    assert config_maps_read(spec) == {"litellm", "codex"}


def test_every_container_list_is_read() -> None:
    def reading(name: str) -> dict[str, object]:
        return {"name": name, "envFrom": [{"configMapRef": {"name": name}}]}

    spec = {
        "initContainers": [reading("init")],
        "containers": [reading("app")],
        "ephemeralContainers": [reading("debug")],
    }
    assert config_maps_read(spec) == {"init", "app", "debug"}


def test_malformed_parts_are_skipped_not_a_crash() -> None:
    spec = {
        "containers": [
            "not a container",
            {"name": "app", "env": "nope", "envFrom": [{"configMapRef": {"name": 7}}, {"configMapRef": "x"}]},
            {
                "name": "b",
                "env": [{"name": "A", "valueFrom": "x"}, {"name": "B", "valueFrom": {"configMapKeyRef": None}}],
            },
        ],
        "volumes": [{"configMap": {"name": ""}}, {"projected": {"sources": "x"}}, {"projected": "x"}, 3],
    }
    assert config_maps_read(spec) == frozenset()
    assert config_maps_read("not a spec") == frozenset()  # type: ignore[arg-type]
