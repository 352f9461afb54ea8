"""Request and response bodies of the RAG API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class SearchRequest(BaseModel):
    query: Text = Field(description="What to look for.", examples=["How do I expose metrics?"])
    top_k: int = Field(5, ge=1, description="How many chunks to return (at most RAG_TOP_K_MAX).")


class AskRequest(BaseModel):
    question: Text = Field(description="The question.", examples=["What port does a Space use?"])
    top_k: int | None = Field(
        None, ge=1, description="Passages given to the LLM (RAG_TOP_K_DEFAULT)."
    )


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
