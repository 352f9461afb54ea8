"""Ingest: metadata, dedupe by content hash, atomic saves, and clear errors for broken indexes."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SPACES

from rag_app.index import CURRENT, IndexLoadError, RagIndex, check_index, read_manifest
from rag_app.ingest import DocumentError, ingest_bytes, ingest_file, load_documents
from rag_app.retrieval import Retriever
from rag_app.settings import Settings

SPACE = SPACES / "rag-docker"
PARAGRAPH = "Blue-green deploys keep two identical environments and switch traffic at once. "


def write_pdf(path: Path, pages: list[str]) -> Path:
    """A real PDF with one text line per page (reportlab)."""
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path))
    for text in pages:
        pdf.drawString(72, 720, text)
        pdf.showPage()
    pdf.save()
    return path


@pytest.fixture
def docs(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "docs"
    folder.mkdir()
    md = folder / "deploys.md"
    md.write_text("# Deploys\n\n" + PARAGRAPH * 30)
    txt = folder / "notes.txt"
    txt.write_text("Canary releases send a small share of traffic to the new version first.\n")
    pdf = write_pdf(
        folder / "manual.pdf",
        ["Page one explains rollbacks to the previous image tag.", "Page two covers smoke tests."],
    )
    return {"md": md, "txt": txt, "pdf": pdf}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(rag_index_dir=tmp_path / "index", chunk_size=300, chunk_overlap=30)


def empty_index(embeddings, settings: Settings) -> RagIndex:
    return RagIndex.create(embeddings, settings.embedding_name)


def test_chunks_keep_source_page_and_chunk_id(embeddings, settings, docs) -> None:
    index = empty_index(embeddings, settings)
    results = [ingest_file(index, p, settings) for p in docs.values()]
    assert [r.status for r in results] == ["added", "added", "added"]
    assert results[0].chunks > 3  # the long Markdown file was split
    metas = [d.metadata for d in index.store.docstore._dict.values()]
    assert {m["source"] for m in metas} == {"deploys.md", "notes.txt", "manual.pdf"}
    assert sorted(m["page"] for m in metas if m["source"] == "manual.pdf") == [1, 2]
    assert all(m["page"] is None for m in metas if m["source"] != "manual.pdf")
    ids = [m["chunk_id"] for m in metas]
    assert len(set(ids)) == len(ids) == index.size
    hit = Retriever(index, settings).search("What does page two of the manual cover?", 1).hits[0]
    assert (hit.source, hit.page) == ("manual.pdf", 2)
    assert "smoke tests" in hit.text
    assert 0 < hit.score <= 1


def test_same_content_is_skipped_and_a_changed_file_replaced(embeddings, settings, docs) -> None:
    index = empty_index(embeddings, settings)
    first = ingest_file(index, docs["md"], settings)
    size = index.size
    assert ingest_file(index, docs["md"], settings).status == "skipped"
    renamed = ingest_bytes(index, "copy-of-deploys.md", docs["md"].read_bytes(), settings)
    assert renamed.status == "skipped"  # same bytes, other name: the hash decides
    assert index.size == size
    docs["md"].write_text("# Deploys\n\nRolling updates replace pods one at a time.\n")
    changed = ingest_file(index, docs["md"], settings)
    assert changed.status == "replaced"
    assert changed.sha256 != first.sha256
    assert index.size == changed.chunks == 1
    assert [d.source for d in index.manifest.documents] == ["deploys.md"]
    assert "Rolling updates" in Retriever(index, settings).search("rolling update", 1).hits[0].text


def test_unreadable_files_raise_a_document_error(tmp_path: Path) -> None:
    bad_pdf = tmp_path / "broken.pdf"
    bad_pdf.write_bytes(b"%PDF-1.4\n this is not really a PDF \x00\x01")
    with pytest.raises(DocumentError, match=r"broken\.pdf: not a readable pdf"):
        load_documents(bad_pdf, "broken.pdf")
    blank = write_pdf(tmp_path / "blank.pdf", [""])
    with pytest.raises(DocumentError, match="no text"):
        load_documents(blank, "blank.pdf")
    exe = tmp_path / "tool.exe"
    exe.write_bytes(b"MZ")
    with pytest.raises(DocumentError, match="unsupported type"):
        load_documents(exe, "tool.exe")


def run_ingest(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = {"PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    return subprocess.run(
        [sys.executable, "-m", "rag_app.ingest", *args],
        cwd=SPACE,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        **kwargs,
    )


@pytest.mark.slow
def test_cli_extends_the_index_and_a_crash_mid_save_keeps_the_previous_one(
    tmp_path: Path, docs, embeddings
) -> None:
    index_dir = tmp_path / "index"
    first = run_ingest(["--index", str(index_dir), str(docs["txt"]), str(docs["pdf"])])
    assert first.returncode == 0, first.stderr
    assert "added 2 documents" in first.stdout
    before = read_manifest(index_dir)
    assert [d.source for d in before.documents] == ["notes.txt", "manual.pdf"]

    # A real failure while writing: the kernel refuses (EFBIG) any write beyond 64 kB into a
    # file, as a full disk or a quota would, and the new index.faiss is bigger than that.
    big = tmp_path / "big.md"
    big.write_text("\n\n".join(f"Section {n}. " + PARAGRAPH * 8 for n in range(120)))
    limit = 64 * 1024

    def cap_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    crashed = run_ingest(
        ["--index", str(index_dir), str(docs["txt"]), str(big)], preexec_fn=cap_file_size
    )
    assert crashed.returncode == 3, crashed.stderr[-2000:]
    assert "writing index" in crashed.stderr  # it failed during the save, not before
    assert "File too large" in crashed.stderr
    assert "the previous one is intact" in crashed.stderr
    assert "Traceback" not in crashed.stderr
    assert list(index_dir.glob(".tmp-gen-*")), "the interrupted generation should be left over"
    survivor = RagIndex.load(index_dir, embeddings, Settings().embedding_name)
    assert [d.source for d in survivor.manifest.documents] == ["notes.txt", "manual.pdf"]
    assert survivor.size == before.chunk_count

    again = run_ingest(["--index", str(index_dir), str(docs["txt"]), str(docs["md"])])
    assert again.returncode == 0, again.stderr
    assert "added 1 documents" in again.stdout
    assert "skipped 1 already indexed" in again.stdout
    assert not list(index_dir.glob(".tmp-gen-*"))  # leftovers pruned by the next save
    assert len(list(index_dir.glob("gen-*"))) == 1
    assert [d.source for d in read_manifest(index_dir).documents] == [
        "notes.txt",
        "manual.pdf",
        "deploys.md",
    ]


def test_missing_corrupt_and_foreign_indexes_fail_clearly(tmp_path: Path, index_copy: Path) -> None:
    name = Settings().embedding_name
    with pytest.raises(IndexLoadError, match=r"no index at .*python -m rag_app\.ingest"):
        check_index(tmp_path / "nowhere", name)

    foreign = tmp_path / "foreign"
    _copy_index(index_copy, foreign)
    manifest = foreign / CURRENT / "manifest.json"
    raw = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**raw, "embedding_model": "BAAI/bge-m3", "dim": 1024}))
    with pytest.raises(IndexLoadError, match="built with embedding model 'BAAI/bge-m3'"):
        check_index(foreign, name)

    corrupt = tmp_path / "corrupt"
    _copy_index(index_copy, corrupt)
    (corrupt / CURRENT / "index.faiss").write_bytes(b"\x00" * 100)
    with pytest.raises(IndexLoadError, match=r"corrupt: index\.faiss unreadable"):
        check_index(corrupt, name)

    garbled = tmp_path / "garbled"
    _copy_index(index_copy, garbled)
    (garbled / CURRENT / "manifest.json").write_text("{not json")
    with pytest.raises(IndexLoadError, match="corrupt"):
        check_index(garbled, name)


def _copy_index(src: Path, dst: Path) -> None:
    import shutil

    shutil.copytree(src, dst, symlinks=True)


@pytest.mark.slow
def test_the_app_refuses_to_start_on_a_corrupt_index_with_one_clear_line(
    tmp_path: Path, index_copy: Path
) -> None:
    corrupt = tmp_path / "corrupt"
    _copy_index(index_copy, corrupt)
    (corrupt / CURRENT / "index.faiss").write_bytes(b"garbage")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(Path.home()),
        "RAG_INDEX_DIR": str(corrupt),
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    done = subprocess.run(
        [sys.executable, "app.py"],
        cwd=SPACE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert f"error: the index at {corrupt} is corrupt" in done.stderr


def test_the_keyword_index_is_saved_with_each_generation_and_checked_on_load(
    embeddings, settings, docs
) -> None:
    index = empty_index(embeddings, settings)
    for path in docs.values():
        ingest_file(index, path, settings)
    index.save(settings.rag_index_dir)
    current = settings.rag_index_dir / CURRENT
    assert (current / "bm25" / "terms.json").is_file()

    loaded = RagIndex.load(settings.rag_index_dir, embeddings, settings.embedding_name)
    order = [loaded.store.index_to_docstore_id[i] for i in range(loaded.size)]
    assert loaded.keywords.ids == order  # read from disk, aligned with the vectors
    hit = Retriever(loaded, settings).search("canary releases", 1).hits[0]
    assert hit.source == "notes.txt"
    assert hit.keyword_score > 0

    terms = current / "bm25" / "terms.json"
    saved = json.loads(terms.read_text())
    terms.write_text(json.dumps({**saved, "ids": saved["ids"][::-1]}))
    with pytest.raises(IndexLoadError, match="BM25 and FAISS files disagree"):
        RagIndex.load(settings.rag_index_dir, embeddings, settings.embedding_name)
    terms.write_text("{not json")
    with pytest.raises(IndexLoadError, match="corrupt"):
        RagIndex.load(settings.rag_index_dir, embeddings, settings.embedding_name)
    terms.unlink()
    with pytest.raises(IndexLoadError, match=r"corrupt: bm25/terms\.json is missing"):
        check_index(settings.rag_index_dir, settings.embedding_name)


def test_an_index_of_the_previous_format_asks_for_a_rebuild(tmp_path: Path, index_copy) -> None:
    old = tmp_path / "old"
    _copy_index(index_copy, old)
    manifest = old / CURRENT / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "format": 1}))
    with pytest.raises(IndexLoadError, match=r"format 1.*reads 2: rebuild it with.*--rebuild"):
        check_index(old, Settings().embedding_name)


def test_chunks_end_at_sentences_and_carry_their_section_heading(embeddings) -> None:
    from rag_app.ingest import split_documents

    source = SPACE / "knowledge" / "fastapi-serving.md"
    chunks = split_documents(load_documents(source, source.name), "0" * 64, Settings())
    headings = {c.metadata["heading"] for c in chunks}
    assert "Serving a model with FastAPI > Sync or async routes" in headings
    assert all(c.metadata["heading"].startswith("Serving a model with FastAPI") for c in chunks)
    assert not any(
        c.page_content.lstrip().startswith("#") and "\n" not in c.page_content.strip()
        for c in chunks
    )  # no chunk is a heading alone
    prose = [c.page_content.rstrip() for c in chunks if not c.page_content.rstrip().endswith("```")]
    ended = sum(text.endswith((".", ":", ")", "`", "?")) for text in prose)
    assert ended / len(prose) >= 0.9  # cut where sentences end, not mid-sentence


def test_text_and_pdf_chunks_carry_numbered_or_capital_section_headings() -> None:
    from rag_app.headings import heading_at, section_of
    from rag_app.ingest import split_documents

    assert section_of("3.5 A secret was exposed", markdown=False) == "3.5 A secret was exposed"
    assert section_of("THE RECURSIVE CHARACTER SPLITTER", markdown=False)
    assert section_of("An ordinary line of prose that wraps here", markdown=False) is None
    assert section_of("3.5 seconds later, it stopped.", markdown=False) is None
    assert section_of("## Not in plain text", markdown=False) is None
    text = "Runbook\n\n1. Severity levels\nSEV1 is an outage.\n2. First steps\nPage someone.\n"
    assert heading_at(text, text.index("Page"), "Runbook", markdown=False) == (
        "Runbook > 2. First steps"
    )
    pdf = SPACE / "knowledge" / "incident-runbook.pdf"
    chunks = split_documents(load_documents(pdf, pdf.name), "0" * 64, Settings())
    secret = next(c for c in chunks if "Revoke it at the provider" in c.page_content)
    assert secret.metadata["heading"].endswith("> 3.5 A secret was exposed")


@pytest.mark.parametrize("name", ["incident-runbook.pdf", "load-testing.txt", "fastapi-serving.md"])
def test_a_chunk_never_spans_two_sections(name: str) -> None:
    """Sections are cut apart before the splitter packs sentences: the runbook's "3.5 A secret
    was exposed" is one chunk with its first line ("...a screenshot as compromised") and its
    steps, which the 500-character packing used to put in two chunks headed by other sections."""
    from rag_app.headings import section_of
    from rag_app.ingest import split_documents

    path = SPACE / "knowledge" / name
    chunks = split_documents(load_documents(path, path.name), "0" * 64, Settings())
    markdown = name.endswith(".md")
    for chunk in chunks:
        lines = chunk.page_content.splitlines()
        inner = [line for line in lines[1:] if section_of(line, markdown)]
        assert not inner, f"{chunk.metadata['heading']!r} also holds the section {inner[0]!r}"
    if name.endswith(".pdf"):
        secret = next(c for c in chunks if "Revoke it at the provider" in c.page_content)
        assert "a screenshot as compromised" in secret.page_content
        assert secret.metadata["heading"].endswith("> 3.5 A secret was exposed")
