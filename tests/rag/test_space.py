"""The whole Space as `python app.py`: HTTP, the mounted UI, and gradio_client."""

from __future__ import annotations

import httpx
import pytest
from gradio_client import Client

pytestmark = pytest.mark.slow
QUESTION = "After how long without traffic does a free Space fall asleep?"


def test_ready_search_and_ui_over_http(space_url: str) -> None:
    ready = httpx.get(f"{space_url}/ready", timeout=10).json()
    assert ready["status"] == "ready"
    assert ready["chunks"] > 100
    hits = httpx.post(f"{space_url}/search", json={"query": QUESTION, "top_k": 2}, timeout=30)
    assert hits.json()["results"][0]["source"] == "spaces-hardware-and-lifecycle.txt"
    root = httpx.get(space_url + "/", timeout=10)
    assert root.status_code == 200
    assert "gradio" in root.text.lower()
    assert httpx.get(f"{space_url}/docs", timeout=10).status_code == 200


def test_gradio_client_chats_and_reads_the_index_size(space_url: str) -> None:
    client = Client(space_url + "/", verbose=False)
    listed = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert listed == {"/search", "/ask"}  # the API page and the MCP tools; the UI's events:
    events = {d.get("api_name") for d in client.config["dependencies"]}
    assert {"chat", "upload", "index_status"} <= events  # callable, undocumented
    reply = client.predict(QUESTION, api_name="/chat")
    assert "**Sources**" in reply
    assert "spaces-hardware-and-lifecycle.txt" in reply
    assert reply.startswith("[1] ")
    quote = [line for line in reply.splitlines() if line.startswith("> ")]
    assert "48 hours" in quote[0]  # the quoted evidence under the answer
    assert quote[-1].startswith("> — [1] `spaces-hardware-and-lifecycle.txt`")
    status = client.predict(api_name="/index_status")
    assert "documents" in status
    assert "chunks" in status


def test_gradio_client_uploads_a_document_into_the_index(space_url: str, tmp_path) -> None:
    from gradio_client import handle_file

    doc = tmp_path / "walrus-notes.md"
    doc.write_text(
        "# Walrus\n\nThe walrus-ledger service rotates its signing keys every 17 days.\n"
    )
    client = Client(space_url + "/", verbose=False)
    log, status = client.predict([handle_file(str(doc))], api_name="/upload")
    assert "`walrus-notes.md`: added (1 chunks)" in log
    assert "chunks" in status
    hit = httpx.post(
        f"{space_url}/search", json={"query": "walrus-ledger key rotation", "top_k": 1}
    )
    assert hit.json()["results"][0]["source"] == "walrus-notes.md"
