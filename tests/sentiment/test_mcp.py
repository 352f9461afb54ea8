"""The API as an MCP server: FastMCP (the official SDK) at /mcp, reached by the official client.

`classify` answers as POST /sentiment and POST /sentiment/batch do.
"""

from __future__ import annotations

import ast
import json

import httpx
import pytest
from conftest import SPACES
from mcp_client import call_tool, list_tools, readme_block, run_readme_snippet, server_name, text_of

pytestmark = pytest.mark.slow
TEXTS = ["What a wonderful, funny and touching film!", "Dull, slow and badly acted."]


def mcp_url(api_server: str) -> str:
    return f"{api_server}/mcp"


def test_classify_is_the_tool_with_a_typed_documented_schema(api_server: str) -> None:
    assert server_name(mcp_url(api_server)) == "Sentiment"
    tools = list_tools(mcp_url(api_server))
    assert set(tools) == {"classify"}
    tool = tools["classify"]
    assert "POSITIVE or NEGATIVE" in (tool.description or "")
    texts = tool.inputSchema["properties"]["texts"]
    assert tool.inputSchema["required"] == ["texts"]
    assert texts["type"] == "array"
    assert texts["items"]["type"] == "string"
    assert (texts["minItems"], texts["maxItems"]) == (1, 256)
    assert texts["description"]
    assert tool.outputSchema is not None
    assert "results" in tool.outputSchema["properties"]


def test_one_text_answers_as_post_sentiment(api_server: str) -> None:
    over_http = httpx.post(f"{api_server}/sentiment", json={"text": TEXTS[0]}, timeout=30).json()
    result = call_tool(mcp_url(api_server), "classify", {"texts": [TEXTS[0]]})
    assert not result.isError, text_of(result)
    assert result.structuredContent == {"results": [over_http]}
    assert over_http["label"] == "POSITIVE"


def test_many_texts_answer_as_post_sentiment_batch(api_server: str) -> None:
    batch = httpx.post(f"{api_server}/sentiment/batch", json={"texts": TEXTS}, timeout=30).json()
    result = call_tool(mcp_url(api_server), "classify", {"texts": TEXTS})
    assert not result.isError, text_of(result)
    assert result.structuredContent == batch
    assert [r["label"] for r in batch["results"]] == ["POSITIVE", "NEGATIVE"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"texts": []}, "at least 1 item"),
        ({"texts": ["fine", "   "]}, "at least one non-whitespace character"),
        ({"texts": ["x"] * 257}, "at most 256 items"),
        ({}, "texts"),
    ],
)
def test_bad_arguments_are_a_readable_tool_error(api_server: str, args: dict, message: str) -> None:
    result = call_tool(mcp_url(api_server), "classify", args)
    assert result.isError
    assert message in text_of(result)


def test_the_readme_mcp_example_and_client_configuration_work(api_server: str) -> None:
    readme = (SPACES / "sentiment-streamlit" / "README.md").read_text()
    names, results = run_readme_snippet(readme, "http://localhost:8000", api_server).splitlines()
    assert names == "['classify']"
    labels = [r["label"] for r in ast.literal_eval(results)["results"]]
    assert labels == ["POSITIVE", "NEGATIVE"]
    config = json.loads(readme_block(readme, "## MCP", "json"))
    url = config["mcpServers"]["sentiment"]["url"]
    assert url.replace("http://localhost:8000", api_server) == mcp_url(api_server)
