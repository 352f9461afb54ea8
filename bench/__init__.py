"""Benchmarks: `python -m bench.<name>` from the repository root; figures go to bench/results/.

Like pytest's `pythonpath` (pyproject.toml), this puts each Space's folder on the import path, so
that a benchmark imports `iris_app`, `sentiment_app` and `rag_app` as the Spaces themselves do.
"""

import sys
from pathlib import Path

for _space in sorted((Path(__file__).resolve().parents[1] / "spaces").iterdir()):
    if _space.is_dir() and str(_space) not in sys.path:
        sys.path.append(str(_space))
