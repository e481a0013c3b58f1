"""A container of a pod laid out in a directory as the kubelet would lay it out in the container: its
ConfigMap volumes (items, subPath, projected sources) at their mount paths under the directory, its
environment (envFrom, env, ConfigMap references, `$(VAR)`), its command line and working directory,
with every path that names a mount or the working directory moved under the directory.

Secret values are not known here: a variable from a Secret gets a stand-in, as a key would be."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelroute.engine.environment import container_env

STAND_IN = "key-from-secret"


@dataclass(frozen=True)
class LaidOut:
    root: Path
    cwd: Path
    env: dict[str, str]
    argv: list[str]

    def inside(self, path: str) -> Path:
        return self.root / path.lstrip("/")


def _volume_files(
    volume: Mapping[str, Any], config_maps: Mapping[tuple[str, str], Mapping[str, str]], ns: str
) -> dict[str, str]:
    """path inside the volume -> text, for the ConfigMap sources of a volume."""
    sources: list[Mapping[str, Any]] = []
    if "configMap" in volume:
        sources.append(volume["configMap"])
    for source in volume.get("projected", {}).get("sources", []):
        if "configMap" in source:
            sources.append(source["configMap"])
    files: dict[str, str] = {}
    for source in sources:
        data = config_maps[(ns, source["name"])]
        items = source.get("items")
        if items:
            files.update({item["path"]: data[item["key"]] for item in items})
        else:
            files.update(data)
    return files


def lay_out(
    pod: Mapping[str, Any], config_maps: Mapping[tuple[str, str], Mapping[str, str]], root: Path, index: int = 0
) -> LaidOut:
    ns = pod["metadata"]["namespace"]
    spec = pod["spec"]
    container = spec["containers"][index]
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mount_paths = []
    for mount in container.get("volumeMounts", []):
        files = _volume_files(volumes[mount["name"]], config_maps, ns)
        target = mount["mountPath"]
        mount_paths.append(target)
        sub = mount.get("subPath")
        for path, text in files.items():
            if sub is not None:
                if path != sub and not path.startswith(sub.rstrip("/") + "/"):
                    continue
                relative = posixpath.relpath(path, sub) if path != sub else ""
            else:
                relative = path
            destination = root / target.lstrip("/") / relative if relative else root / target.lstrip("/")
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_text(text)
    working_dir = container.get("workingDir", "/")
    cwd = root / working_dir.lstrip("/")
    cwd.mkdir(parents=True, exist_ok=True)
    prefixes = sorted({*mount_paths, working_dir} - {"/"}, key=len, reverse=True)

    def moved(text: str) -> str:
        for prefix in prefixes:
            text = re.sub(
                rf"(^|[:=,;]){re.escape(prefix)}(?=$|/)", lambda m, p=prefix: m.group(1) + str(root) + p, text
            )
        return text

    settings = container_env(container, ns, config_maps).settings
    env = {name: moved(s.value) if s.value is not None else STAND_IN for name, s in settings.items()}
    argv = [moved(a) for a in [*container.get("command", []), *container.get("args", [])]]
    return LaidOut(root, cwd, env, argv)
