"""Which file lands at which path of a container: ConfigMap, Secret and projected volumes as the
kubelet lays them out (`items`, `subPath`, `subPathExpr`), and the paths clients name relative to the
working directory.

A ConfigMap's `data` keys and its `binaryData` keys are files alike; a binaryData value is decoded from
base64 once per value, and one that is not UTF-8 text has no text (a client that would load it cannot,
and it is reported where one would). A Secret's files are known to exist, never
read; a path under any other volume, or under no volume at all (the image), is known to be there or
not only by the container itself.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from modelroute.engine.environment import ConfigMaps, ContainerEnv, binary_data_of
from modelroute.engine.values import value_object


class Origin(Enum):
    CONFIG_MAP = "configMap"  # a key of a ConfigMap's data: its text is known
    SECRET = "secret"  # a Secret's key: known to exist, never read
    VOLUME = "volume"  # another volume (emptyDir, a PVC...): what is there is unknown
    MISSING = "missing"  # a ConfigMap volume whose ConfigMap does not exist (optional ones fill in when it appears)
    ABSENT = "absent"  # under a ConfigMap mount that has no such key: the file does not exist
    IMAGE = "image"  # no volume covers the path: whatever the image holds


@value_object
class MountedFile:
    """What is at one path of the container."""

    path: str
    origin: Origin
    field: str = ""  # the volumeMount that provides it, relative to the container: "volumeMounts[1]"
    source: str = ""  # for messages: "ConfigMap chat/gateway key 'config.yaml'"
    text: str | None = None  # the ConfigMap's text; None for every other origin, or a key it cannot give
    unreadable: str = ""  # for a ConfigMap file with no text: why ("is binaryData that is not UTF-8 text")

    @property
    def from_config_map(self) -> bool:
        return self.origin is Origin.CONFIG_MAP

    def where(self) -> str:
        """The file for messages: its path and where it comes from."""
        return f"{self.path} ({self.source})" if self.source else self.path


@dataclass(frozen=True, slots=True)
class _Entry:
    origin: Origin
    source: str
    text: str | None = None
    unreadable: str = ""
    top_level: bool = False  # as `rest`: only names directly under the volume can be one of its files


_NO_FILE = _Entry(Origin.ABSENT, "")  # frozen: one, shared


@dataclass(slots=True)
class _Content:
    """A volume's files by relative path; `rest` says what any other path under it is."""

    entries: dict[str, _Entry] = field(default_factory=dict)
    rest: _Entry = _NO_FILE


@value_object
class _MountPoint:
    path: str
    content: _Content
    field: str
    placed: bool = True  # False: a subPathExpr ModelRoute cannot expand, so its files' paths are unknown


def _clean(relative: str) -> str:
    return posixpath.normpath(relative.strip("/")) if relative.strip("/") else ""


_DECODED: dict[str, str | None] = {}
_DECODED_MAX_CHARS = 32 * 1024 * 1024  # bounded in size: base64 keys plus their texts
_decoded_chars = 0


def binary_file_text(value: str) -> str | None:
    """The file the kubelet writes for a binaryData value: its text when it is UTF-8, else None.
    Decoded once per value (the key is the ConfigMap's own string), so pods that mount it share it."""
    global _decoded_chars
    if value in _DECODED:
        return _DECODED[value]
    try:
        text: str | None = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        text = None
    size = len(value) + len(text or "")
    if _decoded_chars + size > _DECODED_MAX_CHARS:
        _DECODED.clear()
        _decoded_chars = 0
    _DECODED[value] = text
    _decoded_chars += size
    return text


def _config_map_files(
    ref: Mapping[str, Any], namespace: str, config_maps: ConfigMaps, content: _Content, what: str
) -> None:
    name = str(ref.get("name", ""))
    data = config_maps.get((namespace, name))
    describe = f"ConfigMap {namespace}/{name}"
    if data is None:
        content.rest = _Entry(Origin.MISSING, f"{describe}, which does not exist{what}")
        return
    binary = binary_data_of(data)
    items = ref.get("items")
    pairs = (
        [(str(i.get("key", "")), str(i.get("path", ""))) for i in items]
        if items
        else [(k, k) for k in (*data, *binary)]
    )
    for key, path in pairs:
        if key in data or key not in binary:
            entry = _Entry(Origin.CONFIG_MAP, f"{describe} key {key!r}{what}", data.get(key))
            if key not in data:
                entry = _Entry(entry.origin, entry.source, None, "is not a key of the ConfigMap")
        else:
            text = binary_file_text(binary[key])
            entry = _Entry(
                Origin.CONFIG_MAP,
                f"{describe} binaryData key {key!r}{what}",
                text,
                "" if text is not None else "is binaryData that is not UTF-8 text",
            )
        content.entries[_clean(path)] = entry


def _secret_files(name: str, items: Any, namespace: str, content: _Content) -> None:
    describe = f"Secret {namespace}/{name}"
    if items:
        for item in items:
            content.entries[_clean(str(item.get("path", "")))] = _Entry(
                Origin.SECRET, f"{describe} key {str(item.get('key', ''))!r}"
            )
    else:
        # a Secret's keys are never read, so any name directly under it may be one of them; keys hold
        # no `/`, so nothing deeper (such as .codex/config.toml) is there
        content.rest = _Entry(Origin.SECRET, describe, top_level=True)


def _volume_content(volume: Mapping[str, Any], namespace: str, config_maps: ConfigMaps) -> _Content:
    content = _Content()
    if ref := volume.get("configMap"):
        _config_map_files(ref, namespace, config_maps, content, "")
    elif ref := volume.get("secret"):
        _secret_files(str(ref.get("secretName", "")), ref.get("items"), namespace, content)
    elif projected := volume.get("projected"):
        secret_rest: _Entry | None = None
        for source in projected.get("sources") or ():
            if ref := source.get("configMap"):
                part = _Content()
                _config_map_files(ref, namespace, config_maps, part, " (projected)")
                content.entries.update(part.entries)
                if part.rest.origin is not Origin.ABSENT:
                    secret_rest = secret_rest or part.rest
            elif ref := source.get("secret"):
                part = _Content()
                _secret_files(str(ref.get("name", "")), ref.get("items"), namespace, part)
                content.entries.update(part.entries)
                if part.rest.origin is not Origin.ABSENT:
                    secret_rest = part.rest
            # serviceAccountToken, downwardAPI and clusterTrustBundle sources hold no client configuration
        if secret_rest is not None:
            content.rest = secret_rest
    else:
        kind = next((k for k in volume if k != "name"), "volume")
        content.rest = _Entry(Origin.VOLUME, f"volume {volume.get('name', '')} ({kind})")
    return content


def _sub_content(content: _Content, sub: str) -> _Content:
    """What a `subPath` mount shows: the file at `sub`, or the directory `sub` of the volume."""
    if sub in content.entries:
        return _Content({"": content.entries[sub]}, _NO_FILE)
    if content.rest.origin is Origin.SECRET:
        # a key of a Secret whose keys are never read: the file is there, from the Secret
        return _Content({"": _Entry(Origin.SECRET, f"{content.rest.source} key {sub!r}")}, content.rest)
    prefix = sub + "/"
    entries = {path[len(prefix) :]: entry for path, entry in content.entries.items() if path.startswith(prefix)}
    return _Content(entries, content.rest)


@value_object
class ContainerFiles:
    """The files a container sees at the paths volumes provide."""

    working_dir: str | None  # None: the image's WORKDIR, which ModelRoute cannot know
    mounts: tuple[_MountPoint, ...]  # longest mount path first: a deeper mount hides what is under it

    @property
    def has_volumes(self) -> bool:
        return bool(self.mounts)

    def absolute(self, path: str) -> str:
        """A path as the container's process resolves it (relative ones against the working directory)."""
        if not path.startswith("/"):
            path = posixpath.join(self.working_dir or "/", path)
        return posixpath.normpath(path)

    def file_at(self, path: str) -> MountedFile:
        path = self.absolute(path)
        for mount in self.mounts:
            if not mount.placed:
                continue
            if path == mount.path or path.startswith(mount.path.rstrip("/") + "/"):
                relative = _clean(path[len(mount.path) :])
                entry = mount.content.entries.get(relative)
                if entry is None:
                    entry = mount.content.rest
                    if entry.top_level and "/" in relative:
                        entry = _NO_FILE
                return MountedFile(path, entry.origin, mount.field, entry.source, entry.text, entry.unreadable)
        return MountedFile(path, Origin.IMAGE)

    def files(self) -> Iterator[MountedFile]:
        """Every ConfigMap or Secret file whose path is known, the visible one where mounts overlap."""
        for mount in self.mounts:
            for relative, entry in mount.content.entries.items():
                path = posixpath.join(mount.path, relative) if relative else mount.path
                if not mount.placed:
                    yield MountedFile(
                        f"{mount.path}/(unknown)/{relative}",
                        entry.origin,
                        mount.field,
                        entry.source,
                        entry.text,
                        entry.unreadable,
                    )
                    continue
                shown = self.file_at(path)
                if shown.field == mount.field:
                    yield MountedFile(path, entry.origin, mount.field, entry.source, entry.text, entry.unreadable)

    def directory(self, path: str) -> MountedFile:
        """What provides a directory (for a configtree or a directory of config files)."""
        return self.file_at(path)

    def files_under(self, directory: str) -> list[MountedFile]:
        """Every known file below a directory, nearest first."""
        directory = self.absolute(directory).rstrip("/") + "/"
        return [f for f in self.files() if f.path.startswith(directory)]


def container_files(
    container: Mapping[str, Any],
    volumes: Mapping[str, Mapping[str, Any]],
    env: ContainerEnv,
    namespace: str,
    config_maps: ConfigMaps,
) -> ContainerFiles:
    working_dir = container.get("workingDir") or None
    mounts: list[_MountPoint] = []
    for index, mount in enumerate(container.get("volumeMounts") or ()):
        volume = volumes.get(str(mount.get("name", "")))
        mount_path = str(mount.get("mountPath") or "")
        if volume is None or not mount_path.startswith("/"):
            continue
        content = _volume_content(volume, namespace, config_maps)
        placed = True
        sub = mount.get("subPath") or ""
        if not sub and (expression := mount.get("subPathExpr")):
            sub, hidden = env.expand_fully(str(expression))
            placed = not hidden
        if sub and placed:
            content = _sub_content(content, _clean(str(sub)))
        mounts.append(_MountPoint(posixpath.normpath(mount_path), content, f"volumeMounts[{index}]", placed))
    mounts.sort(key=lambda m: len(m.path), reverse=True)
    return ContainerFiles(str(working_dir) if working_dir else None, tuple(mounts))


def volumes_by_name(spec: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(v.get("name", "")): v for v in spec.get("volumes") or ()}
