"""A real MCP client for tests: the official `mcp` SDK over streamable HTTP, from sync code."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

from mcp import ClientSession, types
from mcp.client.streamable_http import streamablehttp_client


async def _session_run(
    url: str, calls: list[tuple[str, dict[str, Any]]], headers: dict[str, str] | None = None
) -> tuple[Any, ...]:
    async with (
        streamablehttp_client(url, headers=headers, timeout=60) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        init = await session.initialize()
        listed = await session.list_tools()
        results = [await session.call_tool(name, args) for name, args in calls]
    return init, {tool.name: tool for tool in listed.tools}, results


def list_tools(url: str) -> dict[str, types.Tool]:
    """The server's tools by name (after a real initialize handshake)."""
    _, tools, _ = asyncio.run(_session_run(url, []))
    return tools


def server_name(url: str) -> str:
    """The name the server gives in its initialize answer."""
    init, _, _ = asyncio.run(_session_run(url, []))
    return init.serverInfo.name


def call_tool(
    url: str, name: str, arguments: dict[str, Any], headers: dict[str, str] | None = None
) -> types.CallToolResult:
    """Call one tool in a fresh session (sending `headers`, e.g. an API key); the raw result."""
    _, _, (result,) = asyncio.run(_session_run(url, [(name, arguments)], headers))
    return result


def text_of(result: types.CallToolResult) -> str:
    """The text content of a tool result, joined."""
    return "".join(c.text for c in result.content if isinstance(c, types.TextContent))


def json_of(result: types.CallToolResult) -> Any:
    """A successful tool result's text, parsed as JSON."""
    assert not result.isError, text_of(result)
    return json.loads(text_of(result))


def readme_block(readme: str, section: str, lang: str) -> str:
    """The first ```lang block of the README section whose heading starts with `section`."""
    start = readme.index(f"\n{section}")
    end = readme.find("\n## ", start + 1)
    text = readme[start : end if end != -1 else None]
    return text.split(f"```{lang}\n", 1)[1].split("```", 1)[0]


def run_readme_snippet(readme: str, local_url: str, live_url: str) -> str:
    """Run the README's MCP Python example against the live server; its stdout."""
    code = readme_block(readme, "## MCP", "python").replace(local_url, live_url)
    assert live_url in code, "the example does not use the local URL"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout
