"""The walk-through's ticketing tool served by the official MCP Python SDK (`pip install mcp`; MCPServer over
streamable HTTP, which answers with server-sent events with CRLF line endings), in place of tool_server.py:

    TOOL_TOKEN=s3cret PORT=9100 python3 examples/agent/sdk_tool_server.py

It accepts only `Authorization: Bearer $TOOL_TOKEN` (the gateway's credential) and appends one JSON line per HTTP
request to $SEEN_FILE (method, path, the Authorization it got, X-Tarmac-Person, MCP-Protocol-Version, session), so a
test can check that the tool never saw the caller's token. Tools: get_ticket (reports progress first), add_comment,
close_ticket, and confirm_close, which pings the client and asks it (elicitation) before it closes: server-to-client
requests whose answers come back through the gateway.
"""
import json
import os

import uvicorn
from pydantic import BaseModel
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import JSONResponse

from mcp.server.mcpserver import Context, MCPServer

TOKEN = os.environ["TOOL_TOKEN"]
SEEN = os.environ.get("SEEN_FILE")
TICKETS = {"T-1": {"id": "T-1", "title": "GPU quota for search", "status": "open", "comments": []},
           "T-2": {"id": "T-2", "title": "flaky node gpu-b", "status": "open", "comments": []}}

server = MCPServer("helpdesk")


@server.tool()
async def get_ticket(id: str, ctx: Context) -> str:
    """Read a ticket."""
    await ctx.report_progress(0.5, 1.0, "looking it up")
    return json.dumps(TICKETS[id])


@server.tool()
async def add_comment(id: str, text: str) -> str:
    """Comment on a ticket."""
    TICKETS[id]["comments"].append(text)
    return json.dumps(TICKETS[id])


@server.tool()
async def close_ticket(id: str) -> str:
    """Close a ticket."""
    TICKETS[id]["status"] = "closed"
    return json.dumps(TICKETS[id])


class Confirm(BaseModel):
    confirm: bool


@server.tool()
async def confirm_close(id: str, ctx: Context) -> str:
    """Close a ticket after asking the client (a ping, then an elicitation)."""
    await ctx.request_context.session.send_ping()
    answer = await ctx.elicit(f"Close {id}?", Confirm)
    if answer.action == "accept" and answer.data and answer.data.confirm:
        TICKETS[id]["status"] = "closed"
        return json.dumps(TICKETS[id])
    return json.dumps({"id": id, "status": "left open", "action": answer.action})


class OnlyTheGateway(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        if SEEN:
            with open(SEEN, "a") as f:
                f.write(json.dumps({"method": request.method, "path": request.url.path,
                                    "authorization": request.headers.get("authorization"),
                                    "person": request.headers.get("x-tarmac-person"),
                                    "version": request.headers.get("mcp-protocol-version"),
                                    "session": request.headers.get("mcp-session-id")}) + "\n")
        if request.headers.get("authorization") != "Bearer " + TOKEN:
            return JSONResponse({"error": "only the gateway's credential is accepted"}, status_code=401)
        return await call_next(request)


app = server.streamable_http_app()
app.add_middleware(OnlyTheGateway)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "9100")), log_level="warning")
