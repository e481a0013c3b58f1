"""An HTTPS stand-in for an approved Azure OpenAI endpoint, run in a pod.

It logs one line per request (method, path with query, which auth header was present) and answers
any call with a chat completion naming what it received. Header values are never logged.
"""

from __future__ import annotations

import json
import os
import ssl
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# 443 as in the Service, so a NetworkPolicy's port (evaluated after the Service's DNAT) is the URL's.
PORT = int(os.environ.get("PORT", "443"))


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        auth = "api-key" if self.headers.get("api-key") else "bearer" if self.headers.get("authorization") else "none"
        model = json.loads(body or b"{}").get("model")
        seen = f"{self.command} {self.path} auth={auth} model={model}"
        print(f"RECEIVED {seen}", flush=True)
        answer = json.dumps(
            {
                "id": "chatcmpl-local",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": "gpt-4o",
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": f"saw {seen}"}}
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self) -> None:
        print(f"RECEIVED GET {self.path}", flush=True)
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain("/tls/tls.crt", "/tls/tls.key")
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(f"listening on :{PORT}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
