"""The policy report CRDs as their publishers ship them (fixtures/report-crds, each file naming its source and
version): installed and removed by the tests that need one API served, or both, and ModelRoute's reports
read back from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.harness.client import ClusterClient, get

from modelroute.api.annotations import MANAGED_SELECTOR
from modelroute.api.kinds import REPORT_APIS, Kind, ReportAPI

CRD_DIR = Path(__file__).parent / "fixtures" / "report-crds"


def crd_file(kind: Kind) -> Path:
    return CRD_DIR / f"{kind.group}_{kind.plural}.yaml"


def crd_name(kind: Kind) -> str:
    return f"{kind.plural}.{kind.group}"


def install(cluster: ClusterClient, api: ReportAPI) -> None:
    """The published CRDs of `api`, established. A plain apply replaces whatever stood under their names."""
    for kind in api.kinds:
        cluster.kubectl("apply", "-f", str(crd_file(kind)))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{crd_name(k)}" for k in api.kinds))


def uninstall(cluster: ClusterClient, api: ReportAPI) -> None:
    names = [crd_name(k) for k in api.kinds]
    cluster.kubectl("delete", "crd", *names, "--ignore-not-found", "--wait=true", "--timeout=60s")


def served(cluster: ClusterClient, api: ReportAPI) -> bool:
    return cluster.kubectl("get", "crd", crd_name(api.namespaced), check=False).returncode == 0


def managed(cluster: ClusterClient, api: ReportAPI, namespace: str) -> dict[str, dict[str, Any]]:
    """ModelRoute's reports of `api` in `namespace`, by name."""
    listing = get(cluster, f"{api.namespaced.plural}.{api.group}", "-n", namespace, "-l", MANAGED_SELECTOR)
    return {item["metadata"]["name"]: item for item in listing["items"]}


def every_managed(cluster: ClusterClient, namespace: str) -> list[dict[str, Any]]:
    """ModelRoute's reports in `namespace`, in whichever API is served."""
    return [r for api in REPORT_APIS if served(cluster, api) for r in managed(cluster, api, namespace).values()]
