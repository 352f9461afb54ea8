"""The model figures on /metrics move with real requests to the packaged SmolLM2: tokens
generated, time to first token, answers by kind and the LLM queue's depth, in the app's own
registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from rag.conftest import OPEN_DEMO

from rag_app.api import create_app
from rag_app.service import RagService
from tests.rag.test_api import QUESTION, parse_sse

OUT_OF_SCOPE = "Who painted the Mona Lisa?"


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for s in family.samples
    }


@pytest.fixture
def fresh(service: RagService) -> Iterator[TestClient]:
    """A new app on the session's loaded service: its own registry, every figure at zero."""
    settings = service.settings.model_copy(update=OPEN_DEMO)
    with TestClient(create_app(settings, service)) as client:
        yield client


def test_tokens_first_token_times_and_answers_by_kind(fresh: TestClient) -> None:
    before = samples(fresh)
    assert before[("rag_tokens_generated_total", ())] == 0
    assert before[("rag_time_to_first_token_seconds_count", ())] == 0
    assert before[("rag_llm_queue_depth", ())] == 0
    asked = fresh.post("/ask", json={"question": QUESTION}).json()
    refused = fresh.post("/ask", json={"question": OUT_OF_SCOPE}).json()
    with fresh.stream("POST", "/ask/stream", json={"question": QUESTION}) as response:
        streamed = dict(parse_sse("".join(response.iter_text())))["answer"]
    assert refused["kind"] == "refused"
    generated = [asked, streamed]
    assert all(a["timings"]["tokens"] > 0 for a in generated)
    after = samples(fresh)
    assert after[("rag_tokens_generated_total", ())] == sum(
        a["timings"]["tokens"] for a in generated
    )
    assert after[("rag_time_to_first_token_seconds_count", ())] == 2  # the refusal made none
    first_token_s = after[("rag_time_to_first_token_seconds_sum", ())]
    assert 0 < first_token_s < sum(a["timings"]["first_token_ms"] for a in generated) / 1000
    kinds = {
        dict(labels)["kind"]: value
        for (name, labels), value in after.items()
        if name == "rag_answers_total"
    }
    expected: dict[str, float] = {"refused": 1}
    for answer in generated:
        expected[answer["kind"]] = expected.get(answer["kind"], 0) + 1
    assert kinds == expected
    assert after[("rag_llm_queue_depth", ())] == 0
    assert after[("rag_generation_timeouts_total", ())] == 0
