"""The connection-string parser reads what .NET's own DbConnectionStringBuilder reads: Mono's System.Data
(the .NET reference source's DbConnectionOptions), run on this machine, on hand-picked strings and on
thousands of generated ones. Installed with hack/mono-packages.sh when missing; compiled once per machine."""

from __future__ import annotations

import base64
import hashlib
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from modelroute.engine.connection_strings import ConnectionString, ConnectionStringError, parse

REPO = Path(__file__).resolve().parents[2]
PROBE_SOURCE = Path(__file__).with_name("dbconnectionstring_probe.cs")
CACHE = Path(os.environ.get("MODELROUTE_DOTNET_PROBE", Path.home() / ".cache/modelroute/dbconnectionstring-probe"))

Pairs = dict[str, str] | None  # lower-cased key -> value; None when the string is refused

HAND_PICKED = [
    "Endpoint=https://contoso.openai.azure.com/;Key=abc",
    "Endpoint=https://contoso.openai.azure.com;Key=abc;Deployment=gpt-4o",
    "Key=sk-1",
    " ;; Key = a b ; ;",
    'Key="a;b"',
    "Key='it''s'",
    'Key="say ""hi"""',
    "Key=''",
    "a==b=c",
    "Key=a;key=b",
    "Key=a;Key=",
    "Key=a;Key=  ;Endpoint=x",
    "Key",
    "Key='abc",
    "Key=abc'",
    "=abc",
    "Key='a'b",
    "Key=a\x01b",
    "Key=a\tb",
    "Key=\u00a0a\u00a0",
    "Key=a\x1cb",
    "Endpoint=sb://shop.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=abc=",
    "DefaultEndpointsProtocol=https;AccountName=shop;AccountKey=YWJj==;EndpointSuffix=core.windows.net",
    "Server=tcp:shop.database.windows.net,1433;Database=shop;User ID=app;Password=p@ss;",
    "cache:6379,password=abc,ssl=True",
    "https://contoso.openai.azure.com/",
    "Key = 'a' ; Endpoint = \"b\" ",
    "Key='a' x",
    "k\u00e9y=v\u00e9",
    "Key=a==b",
    ";",
    "",
    "   ",
]
_ALPHABET = [*"ab=;'\" \t", "\u00e9", "\x01", "\x1c", "\u00a0", "\u2028", "\x85", "{", "}"]


def generated(count: int, seed: int = 16) -> list[str]:
    chance = random.Random(seed)
    return ["".join(chance.choice(_ALPHABET) for _ in range(chance.randint(0, 24))) for _ in range(count)]


@pytest.fixture(scope="module")
def probe() -> Path:
    if not (shutil.which("mono") and shutil.which("mcs")):
        subprocess.run(["bash", str(REPO / "hack/mono-packages.sh")], check=True, timeout=900)
    mono, mcs = shutil.which("mono"), shutil.which("mcs")
    assert mono, "mono is needed to run .NET's DbConnectionStringBuilder: hack/mono-packages.sh installs it"
    assert mcs, "mcs is needed to compile the probe: hack/mono-packages.sh installs it"
    digest = hashlib.sha256(PROBE_SOURCE.read_bytes()).hexdigest()[:16]
    exe = CACHE / f"probe-{digest}.exe"
    if not exe.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        built = exe.with_suffix(".tmp.exe")
        subprocess.run([mcs, "-r:System.Data.dll", str(PROBE_SOURCE), f"-out:{built}"], check=True, timeout=300)
        built.rename(exe)
    return exe


def dotnet_reads(exe: Path, texts: list[str]) -> list[Pairs]:
    lines = "".join(base64.b64encode(t.encode()).decode() + "\n" for t in texts)
    result = subprocess.run(["mono", str(exe)], input=lines, capture_output=True, text=True, timeout=300, check=True)
    out: list[Pairs] = []
    for line in result.stdout.splitlines():
        if line == "ERROR":
            out.append(None)
            continue
        pairs = {}
        for item in line.split(" ")[1:]:
            key, value = item.split(":", 1)
            pairs[base64.b64decode(key).decode()] = base64.b64decode(value).decode()
        out.append(pairs)
    assert len(out) == len(texts), result.stderr
    return out


def we_read(text: str) -> Pairs:
    try:
        parsed: ConnectionString = parse(text)
    except ConnectionStringError:
        return None
    return {key.lower(): value for key, value in parsed.pairs}


def disagreements(exe: Path, texts: list[str]) -> list[tuple[str, Pairs, Pairs]]:
    return [
        (t, theirs, we_read(t))
        for t, theirs in zip(texts, dotnet_reads(exe, texts), strict=True)
        if theirs != we_read(t)
    ]


def test_hand_picked_connection_strings_read_as_dotnet_reads_them(probe: Path) -> None:
    assert disagreements(probe, HAND_PICKED) == []


def test_generated_connection_strings_read_as_dotnet_reads_them(probe: Path) -> None:
    texts = generated(5000)
    found = disagreements(probe, texts)
    assert found == [], f"{len(found)} of {len(texts)} differ, e.g. {found[:5]}"


def test_what_the_aspire_profile_writes_dotnet_reads_back(probe: Path) -> None:
    written = [
        str(ConnectionString((("Endpoint", "https://contoso.openai.azure.com/openai/v1"), ("Key", value))))
        for value in ["plain", "with;semicolon", "it's", 'say "hi"', "both ' and \"", " padded ", "", "a=b"]
    ]
    for text, theirs in zip(written, dotnet_reads(probe, written), strict=True):
        assert theirs == we_read(text), text
