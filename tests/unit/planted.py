"""A marker planted in every position of a URL, for the tests that grep every sink for it."""

from __future__ import annotations

from typing import Any

MARKER = "Zq7sekret"
KEY = f"sk-{MARKER}0"
PLANTED_URLS = {
    "userinfo": f"https://{MARKER}:{MARKER}1@api.openai.com/v1",
    "path-first": f"https://api.openai.com/{MARKER}2/v1",
    "path-deployment": f"https://contoso.openai.azure.com/openai/deployments/{MARKER}3/chat/completions",
    "path-last": f"https://api.openai.com/v1/{MARKER}4",
    "query": f"https://api.openai.com/v1?api-key={MARKER}5",
    "fragment": f"https://api.openai.com/v1#{MARKER}6",
    "expanded-key": "https://api.openai.com/$(OPENAI_API_KEY)/v1",
    "percent-encoded": f"https://api.openai.com/v1/%2F{MARKER}7",
}


def planted_pod(position: str, app: str = "nobody") -> dict[str, Any]:
    url = PLANTED_URLS[position]
    env = [{"name": "OPENAI_API_KEY", "value": KEY}, {"name": "OPENAI_BASE_URL", "value": url}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"pod-{position}", "namespace": "default", "labels": {"app": app}},
        "spec": {
            "containers": [
                {"name": "app", "image": "registry.example.com/app:1", "env": env, "args": ["--upstream", url]}
            ]
        },
    }
