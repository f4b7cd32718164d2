#!/usr/bin/env python3
"""A tiny OpenAI-compatible model server for Tarmac's tests (not a model): it answers /v1/completions and
/v1/chat/completions with its version in the text, reports `usage`, and can stream (server-sent events, the last chunk
with usage). It can be told to fail (HTTP 500) or to slow down, at start (environment) or while it runs (POST /control).

Environment: PORT (default 8080), MODEL_NAME, MODEL_VERSION (what it answers as), STUB_FAIL=1, STUB_DELAY_MS=N,
STUB_TOKEN_DELAY_MS=N (between streamed chunks).
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {
    "fail": os.environ.get("STUB_FAIL") == "1",
    "delay_ms": int(os.environ.get("STUB_DELAY_MS", "0")),
    "token_delay_ms": int(os.environ.get("STUB_TOKEN_DELAY_MS", "5")),
    "requests": 0,
}
LOCK = threading.Lock()
NAME = os.environ.get("MODEL_NAME", "model")
VERSION = os.environ.get("MODEL_VERSION", "0")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle and delayed ACKs hold every answer 40 ms.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def send(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_json(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return None

    def do_GET(self):
        if self.path in ("/health", "/v1/models"):
            return self.send(200, {"object": "list", "data": [{"id": f"{NAME}@{VERSION}"}]})
        if self.path == "/control":
            with LOCK:
                return self.send(200, dict(STATE))
        self.send(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self):
        body = self.read_json()
        if body is None:
            return self.send(400, {"error": {"message": "the body is not JSON"}})
        if self.path == "/control":
            with LOCK:
                for k in ("fail", "delay_ms", "token_delay_ms"):
                    if k in body:
                        STATE[k] = body[k]
                return self.send(200, dict(STATE))
        if self.path not in ("/v1/completions", "/v1/chat/completions"):
            return self.send(404, {"error": {"message": f"no route {self.path}"}})
        with LOCK:
            STATE["requests"] += 1
            fail, delay, token_delay = STATE["fail"], STATE["delay_ms"], STATE["token_delay_ms"]
        if delay:
            time.sleep(delay / 1000)
        if fail:
            return self.send(500, {"error": {"message": f"{NAME}@{VERSION} was told to fail"}})
        prompt = body.get("prompt") or " ".join(m.get("content", "") for m in body.get("messages", []))
        words = [f"hello", "from", VERSION]
        usage = {"prompt_tokens": len(str(prompt).split()), "completion_tokens": len(words),
                 "total_tokens": len(str(prompt).split()) + len(words)}
        if body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            for i, w in enumerate(words):
                chunk = {"object": "text_completion", "model": f"{NAME}@{VERSION}", "choices": [{"index": 0, "text": w + " "}]}
                if i == len(words) - 1:
                    chunk["usage"] = usage
                self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                self.wfile.flush()
                time.sleep(token_delay / 1000)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True
            return
        self.send(200, {"object": "text_completion", "model": f"{NAME}@{VERSION}",
                        "choices": [{"index": 0, "text": " ".join(words), "finish_reason": "stop"}], "usage": usage})


class Server(ThreadingHTTPServer):
    # socketserver's backlog of 5 drops connections a proxy opens in a burst (then a SYN retransmit costs 1 s).
    request_queue_size = 1024


def main():
    port = int(os.environ.get("PORT", "8080"))
    server = Server(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"{NAME}@{VERSION} listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
