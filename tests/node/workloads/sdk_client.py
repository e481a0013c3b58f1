"""The real `openai` SDK in a covered pod, configured only by what ModelRoute's webhook injected.

Prints which settings it found (names only), where each client sends its requests and what the
endpoint answered. An optional argument is an HTTPS address hard-coded by the program, bypassing the
injected settings: it prints whether the network let the connection through.
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.error
import urllib.request

import openai


def main() -> None:
    names = sorted(k for k in os.environ if "OPENAI" in k or "AZURE" in k)
    print("injected:", " ".join(names) or "nothing", flush=True)
    if names:
        _call_through_the_sdk()
    for address in sys.argv[1:]:
        _probe(address)
    print("SDK-DONE", flush=True)


def _call_through_the_sdk() -> None:
    client = openai.OpenAI(timeout=20, max_retries=0)
    print("OpenAI() base_url:", client.base_url, flush=True)
    answer = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    print("OpenAI() answer:", answer.choices[0].message.content, flush=True)
    if os.environ.get("AZURE_OPENAI_ENDPOINT"):
        azure = openai.AzureOpenAI(timeout=20, max_retries=0)
        print("AzureOpenAI() base_url:", azure.base_url, flush=True)
        answer = azure.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        print("AzureOpenAI() answer:", answer.choices[0].message.content, flush=True)


def _probe(address: str) -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(address, timeout=8, context=ctx) as resp:
            print(f"hard-coded {address}: reached, HTTP {resp.status}", flush=True)
    except (urllib.error.URLError, OSError) as e:
        print(f"hard-coded {address}: refused ({e})", flush=True)


if __name__ == "__main__":
    main()
