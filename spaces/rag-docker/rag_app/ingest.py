"""Ingest files into the index: `python -m rag_app.ingest --index DIR PATH...` (files or folders).

LangChain loaders (TextLoader, PyPDFLoader) -> RecursiveCharacterTextSplitter -> embeddings ->
FAISS. Documents already held (same SHA-256) are skipped; the index is saved atomically.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from rag_app.embeddings import load_embeddings
from rag_app.headings import heading_at, section_starts, title_of
from rag_app.index import DocRecord, IndexLoadError, RagIndex, indexed_text
from rag_app.sentences import only_headings
from rag_app.settings import Settings, get_settings

if TYPE_CHECKING:
    from langchain_core.documents import Document

SUPPORTED = (".md", ".txt", ".pdf")
BATCH = 32
# A PDF's pages may hold at most this many times its file size (plus 1 MiB) once decompressed:
# real documents deflate 3-10x, a decompression bomb 1000x (pypdf stops each stream at 75 MB, but
# a small file can hold many such streams, each taking seconds to parse).
PDF_MAX_EXPANSION = 20


class DocumentError(ValueError):
    """A file that cannot be ingested: wrong type, unreadable, malformed or without text."""


@dataclass
class IngestResult:
    """What happened to one file."""

    source: str
    sha256: str
    status: str  # "added", "replaced" or "skipped"
    chunks: int


def find_files(paths: list[Path]) -> list[Path]:
    """Files to ingest: the files given, and the supported files under the folders given."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in SUPPORTED)
        elif path.is_file():
            found.append(path)
        else:
            raise DocumentError(f"{path}: no such file or folder")
    return found


def load_documents(path: Path, source: str) -> list[Document]:
    """Load one file as LangChain documents (one per PDF page) with source and page metadata."""
    from langchain_community.document_loaders import PyPDFLoader, TextLoader

    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise DocumentError(f"{source}: unsupported type '{suffix}', expected one of {SUPPORTED}")
    is_pdf = suffix == ".pdf"
    if is_pdf:
        check_pdf(path, source)
    loader = PyPDFLoader(str(path)) if is_pdf else TextLoader(str(path), encoding="utf-8")
    try:
        docs = loader.load()
    except Exception as exc:  # pypdf and decoders raise many types for malformed files
        reason = str(exc).split("\n")[0] or type(exc).__name__
        raise DocumentError(f"{source}: not a readable {suffix[1:]} file ({reason})") from exc
    docs = [d for d in docs if d.page_content.strip()]
    if not docs:
        raise DocumentError(f"{source}: no text found in the file")
    for doc in docs:
        page = doc.metadata.get("page")
        doc.metadata = {"source": source, "page": page + 1 if is_pdf else None}
    return docs


def check_pdf(path: Path, source: str) -> None:
    """DocumentError for a PDF that needs a password, or whose pages decompress to far more than
    its size (a decompression bomb), before any text is extracted."""
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import LimitReachedError

    limit = PDF_MAX_EXPANSION * path.stat().st_size + 2**20
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise DocumentError(f"{source}: the PDF is encrypted; upload a copy without a password")
        expanded = 0
        for page in reader.pages:
            contents = page.get_contents()
            expanded += len(contents.get_data()) if contents is not None else 0
            if expanded > limit:
                raise LimitReachedError(expanded)
    except DocumentError:
        raise
    except LimitReachedError as exc:  # ours, or pypdf's own limit on one stream
        raise DocumentError(
            f"{source}: its pages decompress to more than {PDF_MAX_EXPANSION} times the file's "
            "size; a PDF like that (a decompression bomb) is not ingested"
        ) from exc
    except Exception as exc:  # pypdf raises many types for malformed files and its own limits
        reason = str(exc).split("\n")[0] or type(exc).__name__
        raise DocumentError(f"{source}: not a readable pdf file ({reason})") from exc


# Chunks end where sentences end: after a blank line, then after . ! or ?, and only then inside a
# sentence (Markdown and PDF text is hard-wrapped, so a line break alone is not a boundary).
# Markdown is cut at headings, code fences and rules first (LangChain's own Markdown separators).
SENTENCE_SEPARATORS = ["\n\n", r"(?<=[.!?])\s+", "\n", " ", ""]


def markdown_separators() -> list[str]:
    from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

    own = RecursiveCharacterTextSplitter.get_separators_for_language(Language.MARKDOWN)
    return own[: own.index("\n\n")] + SENTENCE_SEPARATORS


def split_documents(docs: list[Document], sha256: str, settings: Settings) -> list[Document]:
    """Chunks with a stable id `<sha256 prefix>-<n>`, their source and page, and a `heading`
    ("Title > Section") that is embedded and keyword-indexed with the chunk but never quoted."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    is_md = docs[0].metadata["source"].lower().endswith(".md")
    splitter = RecursiveCharacterTextSplitter(
        separators=markdown_separators() if is_md else SENTENCE_SEPARATORS,
        is_separator_regex=True,
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        add_start_index=True,
    )
    title = title_of(docs[0].page_content)
    chunks = []
    for doc in docs:
        text = doc.page_content
        starts = section_starts(text, markdown=is_md)
        for begin, end in zip(starts, [*starts[1:], len(text)], strict=True):
            section = doc.model_copy(update={"page_content": text[begin:end]})
            for chunk in splitter.split_documents([section]):
                start = begin + chunk.metadata.pop("start_index")
                if not only_headings(chunk.page_content):  # a lone heading heads the next chunk
                    chunk.metadata["heading"] = heading_at(text, start, title, markdown=is_md)
                    chunks.append(chunk)
    for n, chunk in enumerate(chunks):
        chunk.metadata["chunk_id"] = f"{sha256[:12]}-{n:04d}"
    return chunks


def ingest_file(
    index: RagIndex,
    path: Path,
    settings: Settings,
    source: str | None = None,
    progress: bool = False,
) -> IngestResult:
    """Add one file to the index in memory (the caller saves); skip it if already held."""
    source = source or path.name
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    if index.known(sha256):
        return IngestResult(source, sha256, "skipped", 0)
    chunks = split_documents(load_documents(path, source), sha256, settings)
    texts = [c.page_content for c in chunks]
    embedded = [indexed_text(c.page_content, c.metadata["heading"]) for c in chunks]
    vectors: list[list[float]] = []
    bar = tqdm(total=len(texts), desc=source, unit="chunk", disable=not progress, leave=False)
    for start in range(0, len(texts), BATCH):
        vectors += index.embeddings.embed_documents(embedded[start : start + BATCH])
        bar.update(min(BATCH, len(texts) - start))
    bar.close()
    pages = max((c.metadata["page"] or 0) for c in chunks) or None
    replaced = any(d.source == source for d in index.manifest.documents)
    record = DocRecord(source, sha256, len(chunks), pages, [c.metadata["chunk_id"] for c in chunks])
    index.add(record, texts, vectors, [c.metadata for c in chunks])
    return IngestResult(source, sha256, "replaced" if replaced else "added", len(chunks))


def ingest_bytes(index: RagIndex, name: str, data: bytes, settings: Settings) -> IngestResult:
    """Add an uploaded file (the loaders read paths, so it goes through a temporary file)."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED:
        raise DocumentError(f"{name}: unsupported type '{suffix}', expected one of {SUPPORTED}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        return ingest_file(index, path, settings, source=name)


def open_or_create(index_dir: Path, settings: Settings, rebuild: bool = False) -> RagIndex:
    """Load the index at index_dir, or start an empty one if there is none (or on rebuild)."""
    embeddings = load_embeddings(settings)
    if rebuild or not (index_dir / "current").exists():
        return RagIndex.create(embeddings, settings.embedding_name)
    return RagIndex.load(index_dir, embeddings, settings.embedding_name)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m rag_app.ingest", description=__doc__)
    parser.add_argument("--index", type=Path, help="index folder (default: RAG_INDEX_DIR)")
    parser.add_argument("--rebuild", action="store_true", help="start from an empty index")
    parser.add_argument("paths", nargs="+", type=Path, help=".md, .txt or .pdf files, or folders")
    args = parser.parse_args(argv)
    settings = get_settings()
    index_dir = args.index or settings.rag_index_dir
    try:
        files = find_files(args.paths)
        index = open_or_create(index_dir, settings, rebuild=args.rebuild)
    except (DocumentError, IndexLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    began, results, failed = time.perf_counter(), [], []
    for path in tqdm(files, desc="documents", unit="file"):
        try:
            results.append(ingest_file(index, path, settings, progress=True))
        except DocumentError as exc:
            failed.append(str(exc))
            print(f"skipped: {exc}", file=sys.stderr)
    new = [r for r in results if r.status != "skipped"]
    chunks = sum(r.chunks for r in new)
    seconds = time.perf_counter() - began
    if new or args.rebuild or not (index_dir / "current").exists():
        print(f"writing index to {index_dir}", file=sys.stderr, flush=True)
        try:
            index.save(index_dir)
        except (OSError, RuntimeError) as exc:  # disk full, quota, permissions: faiss or Python
            print(
                f"error: could not write the index ({exc}); the previous one is intact",
                file=sys.stderr,
            )
            return 3
    rate = chunks / max(seconds, 1e-9)
    print(
        f"added {len(new)} documents ({chunks} chunks, {rate:.1f} chunks/s), "
        f"skipped {len(results) - len(new)} already indexed, {len(failed)} failed; "
        f"the index holds {len(index.manifest.documents)} documents, {index.size} chunks"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
