"""The Space as an MCP server: Gradio's own, at /gradio_api/mcp/, reached by the official client.

The tools answer as the HTTP API does: `search` as POST /search, `ask` as POST /ask.
"""

from __future__ import annotations

import json

import httpx
import pytest
from conftest import SPACES
from mcp_client import call_tool, json_of, list_tools, readme_block, run_readme_snippet, text_of

pytestmark = pytest.mark.slow
QUESTION = "After how long without traffic does a free Space fall asleep?"


def mcp_url(space_url: str) -> str:
    return f"{space_url}/gradio_api/mcp/"


def test_search_and_ask_are_the_only_tools_with_typed_documented_schemas(space_url: str) -> None:
    tools = list_tools(mcp_url(space_url))
    assert set(tools) == {"search", "ask"}  # the chat, upload and status events are not tools
    search, ask = tools["search"].inputSchema, tools["ask"].inputSchema
    assert search["required"] == ["query"]
    assert search["properties"]["query"]["type"] == "string"
    assert search["properties"]["top_k"]["type"] == "integer"
    assert search["properties"]["top_k"]["default"] == 5
    assert ask["required"] == ["question"]
    assert ask["properties"]["question"]["type"] == "string"
    assert "integer" in str(ask["properties"]["top_k"])
    for name, tool in tools.items():
        assert len(tool.description or "") > 80, name
        for param, prop in tool.inputSchema["properties"].items():
            assert prop.get("description"), f"{name}.{param} has no description"
    assert "quoted" in (tools["ask"].description or "")


def test_search_answers_as_the_http_api_does(space_url: str) -> None:
    args = {"query": QUESTION, "top_k": 3}
    over_http = httpx.post(f"{space_url}/search", json=args, timeout=30).json()
    over_mcp = json_of(call_tool(mcp_url(space_url), "search", args))
    assert over_mcp == over_http
    assert over_mcp["results"][0]["source"] == "spaces-hardware-and-lifecycle.txt"
    assert len(over_mcp["results"]) == 3


def test_ask_answers_as_the_http_api_does_with_sources_and_evidence(space_url: str) -> None:
    over_http = httpx.post(f"{space_url}/ask", json={"question": QUESTION}, timeout=120).json()
    over_mcp = json_of(call_tool(mcp_url(space_url), "ask", {"question": QUESTION}))
    timings_http, timings_mcp = over_http.pop("timings"), over_mcp.pop("timings")
    assert over_mcp == over_http  # answer, kind, sources, evidence, cited: all the same
    assert set(timings_mcp) == set(timings_http)
    assert "48 hours" in over_mcp["evidence"][0]["text"]
    assert over_mcp["sources"][0]["source"] == "spaces-hardware-and-lifecycle.txt"
    assert over_mcp["cited"]


def test_a_question_the_documents_do_not_cover_is_refused(space_url: str) -> None:
    answer = json_of(
        call_tool(mcp_url(space_url), "ask", {"question": "Who won the 1998 football world cup?"})
    )
    assert answer["kind"] == "refused"
    assert "I don't know" in answer["answer"]


@pytest.mark.parametrize(
    ("tool", "args", "message"),
    [
        ("search", {"query": "   "}, "empty"),
        ("search", {"query": "ports", "top_k": 99}, "top_k must be between 1 and 20"),
        ("search", {"query": "ports", "top_k": 0}, "top_k must be between 1 and 20"),
        ("ask", {"question": "x" * 1001}, "the limit is 1000"),
        ("ask", {}, "required"),
    ],
)
def test_bad_arguments_are_a_readable_tool_error(
    space_url: str, tool: str, args: dict, message: str
) -> None:
    result = call_tool(mcp_url(space_url), tool, args)
    assert result.isError
    assert message in text_of(result)


def test_the_readme_mcp_example_and_client_configuration_work(space_url: str) -> None:
    readme = (SPACES / "rag-docker" / "README.md").read_text()
    out = run_readme_snippet(readme, "http://localhost:7860", space_url)
    names, answer, quote = out.splitlines()
    assert names == "['ask', 'search']"
    assert answer.startswith("[1] ")
    assert "48 hours" in quote
    assert quote.endswith("-- spaces-hardware-and-lifecycle.txt")
    config = json.loads(readme_block(readme, "## MCP", "json"))
    url = config["mcpServers"]["deployment-notes"]["url"]
    assert url.replace("http://localhost:7860", space_url) == mcp_url(space_url)
