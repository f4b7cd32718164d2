#!/usr/bin/env python3
"""An agent that calls a tool for the person who asks it, as Tarmac runs it (README, "Agents and tools").

At start it proves who it is: the one-time bootstrap in TARMAC_IDENTITY_BOOTSTRAP_FILE is exchanged at
POST $TARMAC_IDENTITY_URL/v1/identity for a JWT-SVID (sub = its SPIFFE ID), renewed before it expires.

It then serves POST /ask on $PORT, body {"ticket": "T-1", "do": ["get_ticket", "add_comment"], "text": "...", "hold": false}:
  - with the person's Tarmac token (Authorization: Bearer tmc_...), it exchanges that token and its JWT-SVID for a
    token for one tool (RFC 8693: subject_token = the person's, actor_token = its own, audience = the tool);
    without one, it asks for a token in its own name (its JWT-SVID as subject; sensitive scopes are refused);
  - it calls the tool through the gateway ($TARMAC_GATEWAY_URL/TOOL/mcp) as an MCP client (MCPSession: initialize,
    session, JSON or server-sent-event answers, the server's own requests answered, DELETE at the end): tools/list, then
    each tools/call. It speaks to any MCP server over streamable HTTP, the official SDKs' included;
  - with "hold": true it keeps the tool's token for the next request of the same person and scope (until shortly
    before it expires) instead of exchanging again: a token held across a revocation is refused at the gateway;
  - it answers with what each step returned, and logs one JSON line per request.
The person's token never leaves the agent except to Tarmac's token endpoint. AGENT_SVID_FILE=NAME also writes the
current JWT-SVID to that file of its working directory (the integration tests read it).
"""
import base64
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API = os.environ["TARMAC_IDENTITY_URL"]
GATEWAY = os.environ.get("TARMAC_GATEWAY_URL", "")
TOOL = os.environ.get("TOOL", "helpdesk")
SCOPE = os.environ.get("SCOPE", "read comment")
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def log(**fields):
    print(json.dumps(fields), flush=True)


def call(url, data=None, headers=None, form=False):
    body, headers = None, dict(headers or {})
    if data is not None:
        body = urllib.parse.urlencode(data).encode() if form else json.dumps(data).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded" if form else "application/json"
    req = urllib.request.Request(url, data=body, headers=headers, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


class Identity:
    """The agent's JWT-SVID: from the bootstrap once, then renewed with itself before it expires."""

    def __init__(self):
        with open(os.environ["TARMAC_IDENTITY_BOOTSTRAP_FILE"]) as f:
            status, v = call(API + "/v1/identity", {"bootstrap": f.read().strip()})
        if status != 200:
            raise SystemExit(f"identity refused ({status}): {v}")
        self.lock = threading.Lock()
        self.take(v)
        log(event="identity", spiffe_id=self.spiffe_id)

    def take(self, v):
        self.svid, self.spiffe_id = v["svid"], v["spiffeID"]
        self.renew_at = time.time() + 0.5 * (json.loads(base64.urlsafe_b64decode(self.svid.split(".")[1] + "=="))["exp"] - time.time())
        if os.environ.get("AGENT_SVID_FILE"):
            with open(os.environ["AGENT_SVID_FILE"] + ".tmp", "w") as f:
                f.write(self.svid)
            os.replace(os.environ["AGENT_SVID_FILE"] + ".tmp", os.environ["AGENT_SVID_FILE"])

    def current(self):
        with self.lock:
            if time.time() >= self.renew_at:
                status, v = call(API + "/v1/identity", {"svid": self.svid})
                if status == 200:
                    self.take(v)
            return self.svid


IDENTITY = None
# Tokens kept across requests that ask for it ("hold": true), by person and scope, until shortly before they expire.
HELD = {}


class MCPSession:
    """An MCP client over streamable HTTP, as the official SDKs speak it: `initialize` (protocol version, capabilities),
    `notifications/initialized`, then requests, each POST with `Accept: application/json, text/event-stream`, the
    session id (`Mcp-Session-Id`) and the negotiated `MCP-Protocol-Version`; an answer may be JSON or a stream of
    server-sent events (read as bytes: CRLF, LF or CR line endings, multi-line data), in which the server may ask this
    client something (ping: answered; elicitation: declined; sampling: refused), answered by POSTing the response;
    `close()` ends the session (DELETE)."""

    VERSION = "2025-11-25"

    def __init__(self, url, token):
        self.url, self.token, self.session, self.version, self.next_id = url, token, None, None, 1

    def headers(self):
        h = {"Authorization": "Bearer " + self.token, "Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        if self.session:
            h["Mcp-Session-Id"] = self.session
        if self.version:
            h["MCP-Protocol-Version"] = self.version
        return h

    def send(self, message, method="POST"):
        """One HTTP exchange: (status, the JSON-RPC messages of the answer, the answer's headers)."""
        body = json.dumps(message).encode() if message is not None else None
        req = urllib.request.Request(self.url, data=body, headers=self.headers(), method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, self.messages(r.read(), r.headers.get("Content-Type", "")), r.headers
        except urllib.error.HTTPError as e:
            return e.code, self.messages(e.read(), e.headers.get("Content-Type", "")), e.headers

    @staticmethod
    def messages(raw, content_type):
        if not raw:
            return []
        if content_type.startswith("text/event-stream"):
            out, data = [], []
            for line in raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n"):
                if not line:
                    if data:
                        out.append(b"\n".join(data))
                    data = []
                elif line.startswith(b"data:"):
                    data.append(line[5:][1:] if line[5:6] == b" " else line[5:])
            return [json.loads(d) for d in out]
        try:
            m = json.loads(raw)
        except ValueError:
            return [{"error": {"message": raw.decode(errors="replace")}}]
        return m if isinstance(m, list) else [m]

    def request(self, method, params=None):
        """A request and its response: (HTTP status, the JSON-RPC response). The server's own requests on the way are answered."""
        rid = self.next_id
        self.next_id += 1
        status, messages, headers = self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params or {}})
        if headers.get("Mcp-Session-Id"):
            self.session = headers.get("Mcp-Session-Id")
        answer = None
        for m in messages:
            if "method" in m and "id" in m:
                self.answer_server(m)
            elif m.get("id") == rid or answer is None and "error" in m:
                answer = m
        return status, answer if answer is not None else {"error": {"message": "no answer (HTTP %d)" % status}}

    def answer_server(self, m):
        if m["method"] == "ping":
            reply = {"jsonrpc": "2.0", "id": m["id"], "result": {}}
        elif m["method"] == "elicitation/create":
            reply = {"jsonrpc": "2.0", "id": m["id"], "result": {"action": "decline"}}
        else:
            reply = {"jsonrpc": "2.0", "id": m["id"], "error": {"code": -32601, "message": "this agent does not serve " + m["method"]}}
        self.send(reply)

    def initialize(self):
        status, answer = self.request("initialize", {"protocolVersion": self.VERSION, "capabilities": {},
                                                     "clientInfo": {"name": "tarmac-example-agent", "version": "1.0"}})
        if status == 200 and "result" in answer:
            self.version = answer["result"].get("protocolVersion", self.VERSION)
            self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return status, answer

    def close(self):
        if self.session:
            self.send(None, method="DELETE")


def ask(person_token, request):
    svid = IDENTITY.current()
    form = {"grant_type": EXCHANGE, "audience": TOOL, "scope": request.get("scope", SCOPE)}
    key = (person_token or "", form["scope"])
    held = HELD.get(key) if request.get("hold") else None
    if held and held[1] > time.time() + 5:
        tok = held[0]
        steps = [{"step": "exchange", "status": "held", "scope": tok.get("scope"), "error": None}]
    else:
        if person_token:
            form.update(subject_token=person_token, subject_token_type="urn:ietf:params:oauth:token-type:access_token",
                        actor_token=svid, actor_token_type="urn:ietf:params:oauth:token-type:jwt")
        else:
            form.update(subject_token=svid, subject_token_type="urn:ietf:params:oauth:token-type:jwt")
        status, tok = call(API + "/v1/token", form, form=True)
        steps = [{"step": "exchange", "status": status, "scope": tok.get("scope") if status == 200 else None,
                  "error": None if status == 200 else tok}]
        if status != 200:
            return steps
        if request.get("hold"):
            HELD[key] = (tok, time.time() + tok.get("expires_in", 60))
    mcp = MCPSession(f"{GATEWAY}/{TOOL}/mcp", tok["access_token"])
    status, init = mcp.initialize()
    if status != 200:
        steps.append({"step": "initialize", "status": status, "result": init})
        return steps
    status, listed = mcp.request("tools/list")
    steps.append({"step": "tools/list", "status": status,
                  "tools": [t["name"] for t in listed["result"]["tools"]] if status == 200 and "result" in listed else listed})
    for name in request.get("do", ["get_ticket"]):
        args = {"id": request.get("ticket", "T-1")}
        if name == "add_comment":
            args["text"] = request.get("text", "looking into it")
        status, result = mcp.request("tools/call", {"name": name, "arguments": args})
        steps.append({"step": "tools/call", "name": name, "status": status, "result": result})
    mcp.close()
    return steps


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path != "/healthz":
            return self.reply(404, {"error": "GET /healthz or POST /ask"})
        self.reply(200, {"agent": IDENTITY.spiffe_id})

    def do_POST(self):
        if self.path != "/ask":
            return self.reply(404, {"error": "POST /ask"})
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            request = json.loads(raw or b"{}")
        except ValueError:
            return self.reply(400, {"error": "the body must be JSON"})
        header = self.headers.get("Authorization") or ""
        person = header[7:].strip() if header.lower().startswith("bearer ") else None
        steps = ask(person, request)
        log(event="ask", on_behalf_of_person=person is not None, steps=[{k: s[k] for k in ("step", "status") if k in s} for s in steps])
        self.reply(200, {"agent": IDENTITY.spiffe_id, "steps": steps})

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    IDENTITY = Identity()
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8080"))), Handler)
    log(event="listening", port=server.server_port)
    server.serve_forever()
