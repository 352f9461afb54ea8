"""Request and response bodies of the RAG API."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from rag_app.security import documented_errors


def has_words(text: str) -> bool:
    """A question needs words: at least one letter or digit. One made only of NUL, control or
    invisible characters, punctuation or emoji has nothing to retrieve by (it matched an
    unrelated passage before this rule)."""
    return any(unicodedata.category(c)[0] in "LN" for c in text)


def _has_words(text: str) -> str:
    if not has_words(text):
        raise ValueError(
            "must contain at least one letter or digit (it is blank, or only control characters, "
            "invisible characters, punctuation or symbols)"
        )
    return text


Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1), AfterValidator(_has_words)
]
TopK = Annotated[int, Field(ge=1, strict=True)]  # strict: not "3", 2.0 or true


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: Text = Field(description="What to look for.", examples=["How do I expose metrics?"])
    top_k: TopK = Field(5, description="How many chunks to return (at most RAG_TOP_K_MAX).")


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: Text = Field(description="The question.", examples=["What port does a Space use?"])
    top_k: TopK | None = Field(None, description="Passages given to the LLM (RAG_TOP_K_DEFAULT).")


class Source(BaseModel):
    source: str = Field(description="File name of the document.")
    page: int | None = Field(description="Page number (PDFs only, from 1).")
    chunk_id: str
    text: str
    score: float = Field(description="Cosine similarity to the query.")
    keyword_score: float = Field(description="BM25 score (0 with RETRIEVAL=dense).")
    relevance: float = Field(
        description="Mean of the cosine similarity and the share of the query's term weight the "
        "chunk holds; passages below RAG_MIN_RELEVANCE are not used to answer."
    )


class Quote(BaseModel):
    source: str = Field(description="File name of the document.")
    page: int | None = Field(description="Page number (PDFs only, from 1).")
    chunk_id: str
    text: str = Field(
        description="One or two sentences, verbatim: sources[passage-1].text[start:end]."
    )
    passage: int = Field(description="The passage quoted: [n] is sources[n-1].")
    start: int = Field(description="Offset of the quote in the passage's text.")
    end: int = Field(description="End offset of the quote in the passage's text.")
    score: float = Field(description="How well the quote matches the question (higher is better).")


class Context(BaseModel):
    """What the answer is built from; /ask/stream sends it before the first token."""

    sources: list[Source] = Field(description="The passages used; [n] is sources[n-1].")
    evidence: list[Quote] = Field(description="The best quote of each passage, best first.")


class AskResponse(Context):
    answer: str = Field(description="What to read first: the answer, citing its passage as [n].")
    kind: Literal["generated", "quoted", "refused"] = Field(
        description="generated: written by the LLM and supported by the quotes; quoted: the best "
        "quote itself (the LLM's answer was not supported, or RAG_ANSWER_MODE=extract); "
        "refused: no passage was relevant enough, the LLM was not called."
    )
    cited: list[int] = Field(description="Passage numbers the answer cites.")
    timings: dict[str, float]


class SearchResponse(BaseModel):
    results: list[Source]


class DocumentInfo(BaseModel):
    source: str
    sha256: str
    chunks: int
    pages: int | None


class DocumentsResponse(BaseModel):
    documents: list[DocumentInfo]
    chunks: int


class UploadResult(BaseModel):
    source: str
    sha256: str
    status: str = Field(description="added, replaced, or skipped (already held).")
    chunks: int


class UploadResponse(BaseModel):
    results: list[UploadResult]
    chunks: int = Field(description="Chunks in the index after the upload.")


ERROR_MEANINGS = {
    400: "The body is not parseable JSON (malformed, not UTF-8, or nested too deep).",
    401: "No API key, or not a valid one (only when the Space has an API key set).",
    403: "Uploads into the shared index need the API key (see RAG_UPLOADS).",
    413: "The request body, or an uploaded file, is larger than its limit.",
    415: "An uploaded file of a type other than .md, .txt or .pdf.",
    422: "Invalid request: the message names each bad field.",
    429: "Too many requests from this client; retry after Retry-After seconds.",
    503: "Not ready (the index and the LLM are loading), or the LLM queue is full.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, each with the one error body."""
    return documented_errors(ERROR_MEANINGS, *codes)
