#!/usr/bin/env python3
"""A small ticketing tool for the agent walk-through: MCP over streamable HTTP (JSON-RPC at POST /mcp: initialize with a
session id, tools/list, tools/call; notifications and the client's responses accepted with 202; DELETE ends the
session; answers as one server-sent event with CRLF line endings to clients that accept text/event-stream, as the
official SDK's server frames them, else JSON) and a REST route (GET /tickets/ID). It accepts only the gateway's own credential (TOOL_TOKEN),
never an agent's token, and remembers who each call was for (GET /_seen, with the same credential).

A tools/call that carries a progress token (params._meta.progressToken) from a client that accepts
text/event-stream is answered as a stream of server-sent events: a progress notification at once, then the result
once POST /_release is called (or after 10 seconds); if the connection closes first, that is remembered (GET /_seen).

    TOOL_TOKEN=s3cret PORT=9100 python3 examples/agent/tool_server.py
"""
import json
import os
import select
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = os.environ.get("TOOL_TOKEN", "")
TICKETS = {"T-1": {"id": "T-1", "title": "GPU quota for search", "status": "open", "comments": []},
           "T-2": {"id": "T-2", "title": "Flaky eval job", "status": "open", "comments": []}}
TOOLS = [
    {"name": "get_ticket", "description": "Read a ticket", "inputSchema": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}},
    {"name": "add_comment", "description": "Comment on a ticket", "inputSchema": {"type": "object", "properties": {"id": {"type": "string"}, "text": {"type": "string"}}}},
    {"name": "close_ticket", "description": "Close a ticket", "inputSchema": {"type": "object", "properties": {"id": {"type": "string"}}}},
    {"name": "delete_everything", "description": "Not in the platform contract: never listed, never callable", "inputSchema": {"type": "object"}},
]
SEEN = []
LOCK = threading.Lock()
RELEASE = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, obj, session=None):
        """JSON, or, to an MCP client that accepts it, one server-sent event with CRLF line endings, as the official
        SDK's server frames it."""
        if self.path == "/mcp" and "text/event-stream" in (self.headers.get("Accept") or "") and status == 200:
            body = b"event: message\r\ndata: " + json.dumps(obj).encode() + b"\r\n\r\n"
            content_type = "text/event-stream"
        else:
            body = json.dumps(obj).encode()
            content_type = "application/json"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if session:
            self.send_header("Mcp-Session-Id", session)
        self.end_headers()
        self.wfile.write(body)

    def accepted(self):
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def stream(self, rid, token, result):
        """The answer to one request as server-sent events, in HTTP/1.1 chunks: progress now, the result when released."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def event(obj):
            data = ("event: message\r\ndata: " + json.dumps(obj) + "\r\n\r\n").encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        event({"jsonrpc": "2.0", "method": "notifications/progress",
               "params": {"progressToken": token, "progress": 1, "total": 2, "message": "looking up the ticket"}})
        for _ in range(100):
            if RELEASE.wait(0.1):
                break
            if self.peer_closed():
                with LOCK:
                    SEEN.append({"method": "STREAM", "path": self.path, "closed": "before the result"})
                self.close_connection = True
                return
        RELEASE.clear()
        event({"jsonrpc": "2.0", "id": rid, "result": result})
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def peer_closed(self):
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def authorized(self):
        with LOCK:
            SEEN.append({"method": self.command, "path": self.path, "authorization": self.headers.get("Authorization"),
                         "person": self.headers.get("X-Tarmac-Person"), "agent": self.headers.get("X-Tarmac-Agent")})
            del SEEN[:-1000]
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            self.reply(401, {"error": "this tool only accepts the gateway's credential"})
            return False
        return True

    def do_DELETE(self):
        """The end of an MCP session."""
        if not self.authorized():
            return
        if self.path != "/mcp":
            return self.reply(404, {"error": "not found"})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        if not self.authorized():
            return
        if self.path == "/_seen":
            with LOCK:
                return self.reply(200, SEEN)
        if self.path.startswith("/tickets/"):
            t = TICKETS.get(self.path[len("/tickets/"):])
            return self.reply(200 if t else 404, t or {"error": "no such ticket"})
        self.reply(404, {"error": "not found"})

    def do_POST(self):
        if not self.authorized():
            return
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path == "/_release":
            RELEASE.set()
            return self.reply(200, {"released": True})
        if self.path != "/mcp":
            return self.reply(404, {"error": "not found"})
        try:
            msg = json.loads(raw)
        except ValueError:
            return self.reply(400, {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}})
        rid, method, params = msg.get("id"), msg.get("method"), msg.get("params") or {}
        if method is None or rid is None:
            # A notification, or the client's answer to a request of ours: accepted, nothing to say.
            return self.accepted()
        if method == "initialize":
            return self.reply(200, {"jsonrpc": "2.0", "id": rid, "result": {"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                                                                           "serverInfo": {"name": "tickets", "version": "1.0"}}},
                              session=os.urandom(8).hex())
        if method == "tools/list":
            return self.reply(200, {"jsonrpc": "2.0", "id": rid, "result": {"tools": TOOLS}})
        if method == "tools/call":
            name, args = params.get("name"), params.get("arguments") or {}
            t = TICKETS.get(args.get("id", ""))
            if t is None:
                return self.reply(200, {"jsonrpc": "2.0", "id": rid, "result": {"isError": True, "content": [{"type": "text", "text": "no such ticket"}]}})
            with LOCK:
                if name == "add_comment":
                    t["comments"].append(args.get("text", ""))
                elif name == "close_ticket":
                    t["status"] = "closed"
                elif name != "get_ticket":
                    return self.reply(200, {"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "unknown tool"}})
                text = json.dumps(t)
            result = {"content": [{"type": "text", "text": text}]}
            token = (params.get("_meta") or {}).get("progressToken")
            if token is not None and "text/event-stream" in (self.headers.get("Accept") or ""):
                return self.stream(rid, token, result)
            return self.reply(200, {"jsonrpc": "2.0", "id": rid, "result": result})
        self.reply(200, {"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "method not found"}})


if __name__ == "__main__":
    if not TOKEN:
        sys.exit("set TOOL_TOKEN: the credential the gateway presents (the tool accepts nothing else)")
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "9100"))), Handler)
    print(f"tickets tool on http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()
