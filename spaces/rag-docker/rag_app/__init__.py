"""Retrieval-augmented answers over a document collection: LangChain + FAISS + a local GGUF LLM."""
