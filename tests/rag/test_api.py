"""The HTTP API through TestClient (lifespan running): answers, SSE, uploads, and every refusal."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from fastapi.testclient import TestClient

from rag_app.api import create_app
from rag_app.index import RagIndex
from rag_app.llm import LlamaCppBackend, packaged_gguf
from rag_app.prompt import NO_ANSWER
from rag_app.service import RagService
from rag_app.settings import Settings
from tests.rag.test_ingest import write_pdf

QUESTION = "After how long without traffic does a free Space fall asleep?"


def test_health_ready_docs_and_metrics(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready").json()
    assert ready["status"] == "ready"
    assert ready["documents"] >= 15
    assert ready["chunks"] > ready["documents"]
    assert ready["llm"].startswith("llama-cpp:SmolLM2-135M-Instruct")
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/search", "/ask", "/ask/stream", "/documents", "/health", "/ready"} <= set(paths)
    client.post("/search", json={"query": "metrics"})
    assert 'handler="/search"' in client.get("/metrics").text


def test_search_returns_ranked_sources(client: TestClient) -> None:
    response = client.post(
        "/search", json={"query": "Which port must a Docker Space use?", "top_k": 3}
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 3
    assert set(results[0]) == {
        "source",
        "page",
        "chunk_id",
        "text",
        "score",
        "keyword_score",
        "relevance",
    }
    assert "app_port" in results[0]["text"]


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        ("/search", {"query": ""}, "query"),
        ("/search", {"query": "   "}, "query"),
        ("/search", {"query": "x", "top_k": 0}, "top_k"),
        ("/search", {"query": "x", "top_k": 21}, "top_k must be between 1 and 20"),
        ("/search", {"query": "x" * 1001}, "limit is 1000"),
        ("/search", {"top_k": 3}, "query: Field required"),
        ("/search", {"query": ["a"]}, "query"),
        ("/ask", {"question": ""}, "question"),
        ("/ask", {"question": "why?" * 300}, "limit is 1000"),
        ("/ask", {"question": "why?", "top_k": 50}, "top_k must be between 1 and 20"),
        ("/ask", {"question": "why?", "top_k": "many"}, "top_k"),
        ("/ask/stream", {"question": " "}, "question"),
    ],
)
def test_bad_input_is_a_readable_422(
    client: TestClient, path: str, body: dict, needle: str
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 422
    assert needle in response.json()["message"]


def test_malformed_json_is_a_422_not_a_500(client: TestClient) -> None:
    response = client.post(
        "/ask", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


def check_evidence(body: dict) -> None:
    """Each quote is a verbatim span of the passage it cites."""
    assert body["evidence"]
    for quote in body["evidence"]:
        passage = body["sources"][quote["passage"] - 1]
        assert quote["chunk_id"] == passage["chunk_id"]
        assert quote["source"] == passage["source"]
        assert passage["text"][quote["start"] : quote["end"]] == quote["text"]


def test_ask_answers_with_quoted_evidence_cited_sources_and_timings(client: TestClient) -> None:
    response = client.post("/ask", json={"question": QUESTION})
    assert response.status_code == 200
    body = response.json()
    assert body["kind"] in ("generated", "quoted")
    assert "48 hours" in body["answer"]
    assert body["sources"][0]["source"] == "spaces-hardware-and-lifecycle.txt"
    assert body["cited"] == [1]
    assert body["answer"].startswith("[1] ")
    check_evidence(body)
    assert "48 hours" in body["evidence"][0]["text"]
    assert body["timings"]["retrieval_ms"] > 0
    assert body["timings"]["generation_ms"] > 0


def test_an_out_of_scope_question_is_refused_in_the_api(client: TestClient) -> None:
    body = client.post("/ask", json={"question": "Who painted the Mona Lisa?"}).json()
    assert body["answer"] == NO_ANSWER
    assert body["kind"] == "refused"
    assert body["sources"] == body["evidence"] == body["cited"] == []
    assert body["timings"]["tokens"] == 0


def parse_sse(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if not line.startswith(":")
        )
        if "data" in fields:
            events.append((fields.get("event", "message"), json.loads(fields["data"])))
    return events


def stream(client: TestClient, body: dict) -> list[tuple[str, dict]]:
    with client.stream("POST", "/ask/stream", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return parse_sse("".join(response.iter_text()))


def test_ask_stream_sends_context_first_then_tokens_then_the_answer(client: TestClient) -> None:
    events = stream(client, {"question": QUESTION, "top_k": 2})
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "context"  # sources and evidence before the first token
    assert kinds[-1] == "answer"
    assert set(kinds[1:-1]) == {"token"}
    assert len(kinds) > 3
    context, final = events[0][1], events[-1][1]
    assert 1 <= len(context["sources"]) <= 2  # passages below MIN_RELEVANCE are left out
    assert all(s["relevance"] >= Settings().min_relevance for s in context["sources"])
    check_evidence(context)
    assert (final["sources"], final["evidence"]) == (context["sources"], context["evidence"])
    streamed = "".join(data["text"] for kind, data in events if kind == "token").strip()
    if final["kind"] == "generated":
        assert streamed in final["answer"]
    else:  # the model's words were not supported: the answer is the best quote instead
        assert final["answer"].endswith(" ".join(final["evidence"][0]["text"].split()))
    assert "48 hours" in final["answer"]
    timings = final["timings"]
    assert (
        timings["first_token_ms"]
        <= sum(timings[k] for k in ("retrieval_ms", "evidence_ms", "queue_ms", "generation_ms"))
        + 50
    )
    assert 0 < timings["llm_first_token_ms"] <= timings["generation_ms"]


def test_a_refused_stream_has_empty_context_one_token_and_the_answer(client: TestClient) -> None:
    events = stream(client, {"question": "How many moons does Jupiter have?"})
    assert [kind for kind, _ in events] == ["context", "token", "answer"]
    assert events[0][1] == {"sources": [], "evidence": []}
    assert events[1][1] == {"text": NO_ANSWER}
    assert events[2][1]["kind"] == "refused"


def test_documents_lists_what_the_index_holds(client: TestClient) -> None:
    body = client.get("/documents").json()
    sources = {d["source"] for d in body["documents"]}
    assert "spaces-hardware-and-lifecycle.txt" in sources
    assert any(s.endswith(".pdf") for s in sources)
    assert body["chunks"] == sum(d["chunks"] for d in body["documents"])


def test_upload_adds_persists_and_skips_duplicates(
    client: TestClient, service: RagService, tmp_path
) -> None:
    text = b"# Zebra protocol\n\nThe zebra-quartz protocol rotates API keys every 11 days.\n"
    files = {"files": ("zebra.md", text, "text/markdown")}
    response = client.post("/documents", files=files)
    assert response.status_code == 201, response.text
    result = response.json()["results"][0]
    assert (result["source"], result["status"]) == ("zebra.md", "added")
    hit = client.post("/search", json={"query": "zebra-quartz key rotation", "top_k": 1}).json()
    assert hit["results"][0]["source"] == "zebra.md"
    on_disk = RagIndex.load(
        service.settings.rag_index_dir, service.index.embeddings, service.settings.embedding_name
    )
    assert "zebra.md" in {d.source for d in on_disk.manifest.documents}
    again = client.post("/documents", files={"files": ("zebra-copy.md", text, "text/markdown")})
    assert again.json()["results"][0]["status"] == "skipped"

    pdf = write_pdf(tmp_path / "okapi.pdf", ["Okapi runbooks live in the ops wiki.", "Page two."])
    response = client.post(
        "/documents", files={"files": ("okapi.pdf", pdf.read_bytes(), "application/pdf")}
    )
    assert response.status_code == 201
    assert response.json()["results"][0]["chunks"] == 2
    hit = client.post("/search", json={"query": "okapi runbooks", "top_k": 1}).json()["results"][0]
    assert (hit["source"], hit["page"]) == ("okapi.pdf", 1)


@pytest.mark.parametrize(
    ("name", "data", "status", "needle"),
    [
        ("tool.exe", b"MZ\x90\x00", 415, "type '.exe' not accepted"),
        ("noext", b"hello", 415, "not accepted"),
        ("broken.pdf", b"%PDF-1.4\nnot a real pdf\n%%EOF", 422, "broken.pdf: not a readable pdf"),
        ("fake.pdf", b"just text pretending", 422, "not a readable pdf"),
        ("empty.md", b"   \n", 422, "empty.md is empty"),
        ("latin1.txt", "caf\xe9 cr\xe8me".encode("latin-1"), 422, "not a readable txt"),
    ],
)
def test_bad_uploads_are_refused_clearly(
    client: TestClient, name: str, data: bytes, status: int, needle: str
) -> None:
    response = client.post("/documents", files={"files": (name, data)})
    assert response.status_code == status
    assert needle in response.json()["message"]


def test_oversized_upload_is_a_413(client: TestClient, service: RagService) -> None:
    data = b"a" * (service.settings.max_upload_bytes + 1)
    response = client.post("/documents", files={"files": ("big.txt", data)})
    assert response.status_code == 413
    assert "larger than 5 MB" in response.json()["message"]


def test_upload_without_files_is_a_422(client: TestClient) -> None:
    assert client.post("/documents").status_code == 422


def test_a_full_queue_answers_503_for_real(service: RagService, built_index) -> None:
    """Queue size 1: one generation runs, one waits, the others are refused at once."""
    settings = Settings(rag_index_dir=built_index, queue_size=1, max_tokens=48, n_threads=1)
    backend = LlamaCppBackend(packaged_gguf(), n_ctx=2048, n_threads=1)
    busy = RagService(settings).load(backend=backend, index=service.index)
    app = create_app(service=busy)

    async def burst() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://rag", timeout=120) as c:
            asks = [c.post("/ask", json={"question": QUESTION}) for _ in range(4)]
            return await asyncio.gather(*asks)

    try:
        responses = asyncio.run(burst())
    finally:
        busy.close()
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) >= 1
    assert codes.count(503) >= 1
    assert set(codes) == {200, 503}
    refused = next(r for r in responses if r.status_code == 503)
    assert "the LLM is busy" in refused.json()["message"]
    assert refused.headers["retry-after"] == "5"
