"""The Space as an MCP server: Gradio's own, at /gradio_api/mcp/, reached by the official client."""

from __future__ import annotations

import json

import httpx
import pytest
from conftest import SPACES
from mcp_client import call_tool, json_of, list_tools, readme_block, run_readme_snippet, text_of

from iris_app.schemas import SETOSA, VIRGINICA

pytestmark = pytest.mark.slow
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def mcp_url(space_url: str) -> str:
    return f"{space_url}/gradio_api/mcp/"


def test_predict_is_the_only_tool_with_a_typed_documented_schema(space_url: str) -> None:
    tools = list_tools(mcp_url(space_url))
    assert set(tools) == {"predict"}  # the UI's events (classify, plot, ...) are not tools
    tool = tools["predict"]
    assert "species" in (tool.description or "")
    schema = tool.inputSchema
    assert set(schema["properties"]) == set(FEATURES)
    assert set(schema["required"]) == set(FEATURES)
    for name in FEATURES:
        assert schema["properties"][name]["type"] == "number"
        assert "cm" in schema["properties"][name]["description"]


@pytest.mark.parametrize("flower", [SETOSA, VIRGINICA], ids=["setosa", "virginica"])
def test_predict_answers_as_the_http_api_does(space_url: str, flower: dict) -> None:
    over_http = httpx.post(f"{space_url}/predict", json=flower, timeout=10).json()
    over_mcp = json_of(call_tool(mcp_url(space_url), "predict", flower))
    assert over_mcp == over_http
    assert over_mcp["species"] == ("setosa" if flower is SETOSA else "virginica")


def test_bad_measurements_are_a_readable_tool_error(space_url: str) -> None:
    result = call_tool(mcp_url(space_url), "predict", {**SETOSA, "petal_width": -1})
    assert result.isError
    assert "petal_width" in text_of(result)
    assert "greater than 0" in text_of(result)
    missing = call_tool(mcp_url(space_url), "predict", {"sepal_length": 5.1})
    assert missing.isError
    assert "required" in text_of(missing)


def test_a_browser_opening_the_mcp_url_gets_a_page(space_url: str) -> None:
    page = httpx.get(mcp_url(space_url), timeout=10)
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]


def test_the_readme_mcp_example_and_client_configuration_work(space_url: str) -> None:
    readme = (SPACES / "iris-gradio" / "README.md").read_text()
    out = run_readme_snippet(readme, "http://localhost:7860", space_url)
    names, answer = out.splitlines()
    assert names == "['predict']"
    assert json.loads(answer)["species"] == "setosa"
    config = json.loads(readme_block(readme, "## MCP", "json"))
    url = config["mcpServers"]["iris"]["url"]
    assert url.replace("http://localhost:7860", space_url) == mcp_url(space_url)
