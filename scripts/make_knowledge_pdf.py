"""Generate the PDF documents of the RAG Space's starter collection.

Run from the repository root: ``python scripts/make_knowledge_pdf.py``. Writes
``spaces/rag-docker/knowledge/incident-runbook.pdf`` and
``spaces/rag-docker/knowledge/release-checklist.pdf``. The output is byte-stable
(reportlab's invariant mode), so re-running it does not dirty the git tree.
``--check`` instead verifies ``bench/rag_questions.jsonl`` against the collection: every
source exists and every key phrase occurs in its source's text (PDFs read with pypdf).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import (
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

rl_config.invariant = 1

REPO = Path(__file__).resolve().parents[1]
KNOWLEDGE = REPO / "spaces" / "rag-docker" / "knowledge"
QUESTIONS = REPO / "bench" / "rag_questions.jsonl"

# A document is a list of blocks: (h1 | h2 | p, text), ("table", rows), ("break", "").
# Paragraph text is reflowed: runs of whitespace become single spaces.
Block = tuple[str, object]

RUNBOOK: list[Block] = [
    ("h1", "Incident runbook for the Spaces of this repository"),
    (
        "p",
        """
        This runbook tells whoever is on duty what to do when one of the three Spaces of this
        monorepo (iris-gradio, sentiment-streamlit, rag-docker) misbehaves. It lists the severity
        levels, the first five minutes of any incident, one playbook per common failure, and the
        post-incident review.
        """,
    ),
    ("h2", "1. Severity levels"),
    (
        "table",
        [
            ["Level", "Meaning", "First response", "Update cadence"],
            ["SEV1", "Space down or wrong for every user", "within 15 minutes", "every 30 minutes"],
            ["SEV2", "Degraded: p99 over objective, some errors", "within 1 hour", "every 2 hours"],
            ["SEV3", "Cosmetic or single-user problem", "next working day", "when resolved"],
        ],
    ),
    (
        "p",
        """
        When in doubt, declare the higher severity. One person is the incident lead and owns
        communication; everybody else works on the fix and reports to the lead.
        """,
    ),
    ("h2", "2. The first five minutes"),
    (
        "p",
        """
        1. Open the Space page and read its status badge: Building, Running, Sleeping, Paused, Build
        error or Runtime error. 2. Open the Logs panel and switch between the Build and Container
        tabs. 3. Call the health endpoints from outside: GET /health must answer 200 as soon as the
        process serves HTTP, and GET /ready must answer 200 once the model (and for rag-docker the
        FAISS index and the LLM) is loaded. 4. Note the time, the symptom and the last commit in the
        incident channel. 5. If the last deploy is less than an hour old, roll back first (section
        4).
        """,
    ),
    ("h2", "3. Playbooks"),
    ("h2", "3.1 Status 'Build error'"),
    (
        "p",
        """
        The image did not build, so the previous container keeps running only until the next
        restart. Read the end of the build log. Typical causes: a dependency without a pin that
        released a breaking version overnight; a torch requirement that resolved to the CUDA build
        and exhausted the disk; llama-cpp-python compiling without cmake or a C++ compiler in the
        stage that builds it. Fixes: pin every requirement with ==, install torch from the CPU wheel
        index, and compile llama-cpp-python in a builder stage that has build-essential and cmake.
        """,
    ),
    ("h2", "3.2 Status 'Runtime error' or a restart loop"),
    (
        "p",
        """
        The container starts and dies. Look at the exit code in the container log. Exit code 137
        means the process was killed with SIGKILL (128 + 9), almost always by the kernel's
        out-of-memory killer: the Space needed more than the 16 GB of cpu-basic, or more likely
        several copies of a model were loaded (one per uvicorn worker, or a model loaded inside a
        request handler). Exit code 143 is SIGTERM (128 + 15), a normal stop requested by the
        platform. An app that starts cleanly but is never reachable usually listens on 127.0.0.1
        instead of 0.0.0.0, or on a port that differs from app_port in the README. A PermissionError
        at start-up means the app writes into a folder owned by root: the container runs as uid
        1000, so writable folders must be created with COPY --chown=user or under the user's home.
        """,
    ),
    ("h2", "3.3 /ready stays at 503 on rag-docker"),
    (
        "p",
        """
        The process is up but the index or the LLM did not load. The start-up log names the cause.
        For a missing, corrupt or foreign index (for example one built with another embedding
        model), rebuild it from the shipped collection with: python -m rag_app.ingest --index
        $RAG_INDEX_DIR knowledge/ . Because ingestion writes a new folder and renames it into place,
        an interrupted ingest never damages the previous index. For the LLM, check LLM_MODEL_PATH,
        or LLM_REPO_ID and LLM_FILENAME; unset them to fall back to the packaged
        SmolLM2-135M-Instruct.
        """,
    ),
    ("h2", "3.4 /ask answers 503: generation queue full"),
    (
        "p",
        """
        llama.cpp runs one generation at a time, so under a burst of questions the bounded queue
        fills and new /ask requests are refused with 503. This is the service protecting itself, not
        a crash: /search keeps working because it never touches the LLM. Confirm it on /metrics,
        where the 5xx count of the /ask handler climbs while /search stays at 2xx. Short-term
        mitigations: lower the answer length cap, lower top_k so prompts are shorter and time to
        first token drops, move the Space to cpu-upgrade (8 vCPU), or point the Space at a remote
        OpenAI-compatible backend by setting OPENAI_BASE_URL, OPENAI_API_KEY (as a secret) and
        OPENAI_MODEL.
        """,
    ),
    ("h2", "3.5 A secret was exposed"),
    (
        "p",
        """
        Treat any key that appeared in a commit, a log, an issue or a screenshot as compromised,
        even if it was visible for seconds. 1. Revoke it at the provider first (for a Hugging Face
        token: Settings, Access Tokens, Invalidate). 2. Create a new key with the least privilege
        needed. 3. Store the new value as a Space secret and as a GitHub Actions secret; the Space
        restarts with it. Rewriting git history is optional and comes last: it never un-leaks a key
        that was pushed.
        """,
    ),
    ("h2", "4. Rolling back"),
    (
        "p",
        """
        Every deploy is a commit on the Space repository, so a rollback commits the previous good
        version again. Revert the faulty commit in this monorepo and redeploy, or upload the
        previous version of the Space folder. Settings changed in the Space's Settings tab are not
        in git history: note them before changing them. After a rollback, confirm /ready and one
        real request from outside before declaring the incident mitigated.
        """,
    ),
    ("h2", "5. After the incident"),
    (
        "p",
        """
        Every SEV1 and SEV2 gets a written, blameless review within 5 working days. It contains a
        timeline in UTC, the impact, the root cause, and action items with an owner and a due date.
        At least one action item must be a test or an alert that would have caught the problem
        earlier.
        """,
    ),
]

CHECKLIST: list[Block] = [
    ("h1", "Release checklist and capacity notes"),
    (
        "p",
        """
        This checklist is followed before any Space of this repository is deployed to Hugging Face.
        It exists because each item on it once went wrong. The second half records reference figures
        measured on a 2-core development machine like the free cpu-basic tier, which help to judge
        whether a new benchmark result is plausible.
        """,
    ),
    ("h2", "Part A. Before merging"),
    (
        "p",
        """
        A1. ruff check and ruff format --check pass on the whole repository. A2. make test passes on
        a fresh clone, including the Docker and browser tests; in CI these fail instead of skipping
        when Docker or the browser is missing. A3. Every dependency in each Space's requirements.txt
        is pinned with ==, and the pins install together. A4. hadolint reports nothing for each
        Dockerfile. A5. No file larger than 10 MB is committed without a reason written in the pull
        request; models that can be rebuilt are built by make into the per-machine cache instead.
        """,
    ),
    ("h2", "Part B. The Space card"),
    (
        "p",
        """
        B1. The README front matter parses, and sdk is gradio or docker as intended. B2. For the
        Gradio Space, sdk_version equals the Gradio version installed for development, and
        python_version is quoted. B3. For Docker Spaces, app_port equals the port in the
        Dockerfile's EXPOSE and the port the server binds: 7860 for rag-docker, 8501 for
        sentiment-streamlit. B4. The card documents every environment variable the Space reads, with
        its default, so a user who clicks Duplicate this Space knows what to set. B5. The card
        states the model's measured quality and the date of the measurement.
        """,
    ),
    ("h2", "Part C. The image"),
    (
        "p",
        """
        C1. The image builds from a clean cache in under 15 minutes on 2 cores. C2. It runs as uid
        1000 and the app writes only under the user's home or the configured index folder. C3. The
        HEALTHCHECK passes within its start period. C4. The image size is recorded in the release
        notes; a growth of more than 20 percent over the previous release needs an explanation (the
        usual culprit is a CUDA build of torch). C5. The container answers its real endpoints with
        the network disabled (docker run --network none), which proves that no model is downloaded
        at run time.
        """,
    ),
    ("h2", "Part D. Quality gates"),
    (
        "table",
        [
            ["Space", "Gate", "Threshold"],
            ["iris-gradio", "held-out test accuracy", "at least 0.90"],
            ["sentiment-streamlit", "held-out IMDB accuracy", "at least 0.88"],
            ["rag-docker", "retrieval hit@5 on the question set", "at least 0.90"],
            ["all", "5xx responses in the schema fuzz test", "zero"],
        ],
    ),
    (
        "p",
        """
        A release that misses a gate is not deployed, whatever else it improves. Gates are measured
        on data that was never used for training or tuning: the Iris held-out split, held-out IMDB
        reviews and SST-2 validation sentences, and the RAG question set.
        """,
    ),
    ("break", ""),
    ("h2", "Part E. Reference figures on 2 cores"),
    (
        "p",
        """
        These figures were measured on the development machine (2 vCPU, Python 3.11, offline) while
        preparing the project. They are orders of magnitude to compare against, not targets; the
        benchmarks under bench/ produce the current numbers with the machine description attached.
        """,
    ),
    (
        "table",
        [
            ["Component", "Measurement", "Figure"],
            ["all-MiniLM-L6-v2 embedder", "short sentences per second, batch 32", "260 to 330"],
            ["all-MiniLM-L6-v2 embedder", "256-token chunks per second", "about 37"],
            ["all-MiniLM-L6-v2 embedder", "load time", "about 5 s"],
            ["SmolLM2-135M-Instruct Q4_1", "prompt processing, tokens per second", "170 to 180"],
            ["SmolLM2-135M-Instruct Q4_1", "generation, tokens per second", "64 to 72"],
            ["SmolLM2-135M-Instruct Q4_1", "load time", "about 0.15 s"],
            ["SmolLM2 via llama_cpp.server", "82-token chat completion", "0.97 s"],
            ["llama-cpp-python 0.3.36", "portable build from source", "about 6.5 minutes"],
        ],
    ),
    (
        "p",
        """
        For the sentiment model, a full fine-tune of the packaged MiniLM on 3,000 IMDB reviews at
        128 tokens for one epoch took 258 seconds and reached 83.3 percent on 1,000 held-out
        reviews; the saved model directory is about 88 MB and loads in about 5 seconds. A second run
        on 8,000 reviews took 649 seconds of training and reached 85.4 percent on held-out IMDB and
        80.6 percent on SST-2 validation. A classifier head trained on frozen embeddings reached
        only 67 to 79 percent, which is why the encoder is fine-tuned end to end.
        """,
    ),
    ("h2", "Part F. Capacity rules of thumb"),
    (
        "p",
        """
        F1. Memory: one process per Space. The embedder, the packaged GGUF model and a FAISS index
        of 10,000 chunks together stay well under 2 GB, far below the 16 GB of cpu-basic; the usual
        way to run out of memory is loading a model once per worker or per request. F2. CPU: with 2
        vCPU, one generation at a time using both threads is faster than two in parallel. F3. Time
        to first token grows with the prompt: at about 175 prompt tokens per second, four chunks of
        200 tokens each cost close to 5 seconds before the first word appears, so top_k and chunk
        size are latency settings as much as quality settings. F4. Plan replicas from the throughput
        at which p99 still meets the objective, with 30 to 50 percent headroom.
        """,
    ),
    ("h2", "Part G. After deploying"),
    (
        "p",
        """
        G1. Watch the build log to the end and wait for the Running badge. G2. Call /health and one
        real prediction from outside. G3. Open the UI in a browser and try the first example. G4.
        Tag the monorepo commit with the Space name and the date, e.g. rag-docker-2026-11-26, so
        that the deployed version can be found and rolled back to.
        """,
    ),
]


def build(path: Path, blocks: list[Block], title: str) -> None:
    """Render blocks to a PDF at path."""
    styles = getSampleStyleSheet()
    doc = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        title=title,
        author="hf-spaces-monorepo",
        leftMargin=2 * cm,
        rightMargin=2 * cm,
        topMargin=2 * cm,
        bottomMargin=2 * cm,
    )
    story = []
    for kind, content in blocks:
        if kind == "break":
            story.append(PageBreak())
        elif kind == "table":
            table = Table(content, hAlign="LEFT")
            table.setStyle(
                TableStyle(
                    [
                        ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                        ("FONTSIZE", (0, 0), (-1, -1), 9),
                        ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                        ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                    ]
                )
            )
            story += [table, Spacer(1, 0.4 * cm)]
        else:
            style = {"h1": "Title", "h2": "Heading2", "p": "BodyText"}[kind]
            story.append(Paragraph(" ".join(str(content).split()), styles[style]))
            if kind == "p":
                story.append(Spacer(1, 0.2 * cm))
    doc.build(story)


def document_text(path: Path) -> str:
    """The text of a collection file, whitespace-normalised and lower-cased."""
    if path.suffix == ".pdf":
        from pypdf import PdfReader

        text = "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
    else:
        text = path.read_text(encoding="utf-8")
    return " ".join(text.split()).lower()


def check_questions() -> int:
    """Print every question whose source or key phrase is missing; return the count."""
    texts = {p.name: document_text(p) for p in KNOWLEDGE.iterdir() if p.is_file()}
    problems = 0
    lines = QUESTIONS.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        item = json.loads(line)
        text = texts.get(item["source"])
        if text is None or item["key_phrase"].lower() not in text:
            print(f"line {number}: {item}")
            problems += 1
    print(f"{len(lines)} questions over {len(texts)} documents, {problems} problems")
    return problems


def main() -> None:
    """Write both PDFs into the knowledge folder (or check the question set with --check)."""
    if "--check" in sys.argv[1:]:
        sys.exit(1 if check_questions() else 0)
    build(KNOWLEDGE / "incident-runbook.pdf", RUNBOOK, "Incident runbook")
    build(KNOWLEDGE / "release-checklist.pdf", CHECKLIST, "Release checklist and capacity notes")
    for name in ("incident-runbook.pdf", "release-checklist.pdf"):
        print(KNOWLEDGE / name)


if __name__ == "__main__":
    main()
