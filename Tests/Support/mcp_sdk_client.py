"""The official MCP Python SDK's client, through Tarmac's tool gateway, for the gateway's tests.

Usage: mcp_sdk_client.py URL TOKEN [legacy|auto]. With the tool's token (from POST /v1/token) it initializes, lists
the tools, calls get_ticket (with a progress callback), close_ticket, and confirm_close (which pings this client and
asks it to confirm: answered by the elicitation callback), then closes the session (DELETE). Prints one line,
RESULT {json}, with what each step gave.
"""
import asyncio
import json
import sys

import httpx2

import mcp.types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def main(url, token, mode):
    out = {"progress": [], "elicited": []}

    async def on_elicit(context, params):
        out["elicited"].append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": True})

    async def on_progress(progress, total, message):
        out["progress"].append(message)

    http = create_mcp_http_client(headers={"Authorization": "Bearer " + token})
    async with http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode, elicitation_callback=on_elicit, read_timeout_seconds=20) as client:
            tools = await client.list_tools()
            out["tools"] = sorted(t.name for t in tools.tools)
            for name, args in (("get_ticket", {"id": "T-1"}), ("close_ticket", {"id": "T-1"}), ("confirm_close", {"id": "T-2"})):
                try:
                    r = await client.call_tool(name, args, progress_callback=on_progress if name == "get_ticket" else None)
                    out[name] = {"isError": r.is_error, "text": "".join(c.text for c in r.content if getattr(c, "text", None))}
                except Exception as e:  # a refusal comes back as an MCP error
                    out[name] = {"error": type(e).__name__, "message": str(e)[:400]}
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "legacy"))
