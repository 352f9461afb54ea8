"""Files in and out of a batch job (CSV or Parquet, through Arrow), and the job run on Ray.

Knows nothing of the model: `batch.py` passes its scorer class to `score_on_ray`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

ROW = "row"  # the input row number (1 = first data row), kept in the errors file
SUFFIXES = (".csv", ".parquet")


class BatchInputError(ValueError):
    """The input cannot be used: unreadable, of an unknown kind, or missing a column."""


def check_suffix(path: Path) -> None:
    if path.suffix.lower() not in SUFFIXES:
        raise BatchInputError(f"{path}: expected a .csv or .parquet file")


def read_table(path: Path, text_columns: tuple[str, ...] = ()) -> pa.Table:
    """The whole file as an Arrow table (`text_columns` of a CSV read as text, whatever they look
    like); a BatchInputError naming the file when it has no rows or can't be read."""
    check_suffix(path)
    if not path.is_file():
        raise BatchInputError(f"{path}: no such file")
    try:
        if path.suffix.lower() == ".csv":
            types = pacsv.ConvertOptions(column_types=dict.fromkeys(text_columns, pa.string()))
            table = pacsv.read_csv(path, convert_options=types)
        else:
            table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        kind = path.suffix.lower().lstrip(".").upper()
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BatchInputError(f"{path} is not a readable {kind} file: {reason}") from exc
    if table.num_rows == 0:
        raise BatchInputError(f"{path} has no rows")
    return table


def require_columns(table: pa.Table, columns: list[str], path: Path) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise BatchInputError(
            f"{path} has no column {', '.join(map(repr, missing))} "
            f"(its columns: {', '.join(table.column_names) or 'none'})"
        )
    if ROW in table.column_names:
        raise BatchInputError(f"{path} has a column named {ROW!r}, which the job adds itself")


def blocks(table: pa.Table, actors: int, batch_size: int) -> list[pa.Table]:
    """The table cut into blocks: four per actor at least (so that every actor gets work and a
    slow block does not hold the others up), whole batches each."""
    per_block = max(batch_size, -(-table.num_rows // (4 * actors)) // batch_size * batch_size)
    return [table.slice(start, per_block) for start in range(0, table.num_rows, per_block)]


def errors_path(output: Path) -> Path:
    """Where failed rows go by default: OUTPUT.errors.csv beside the output."""
    return output.with_name(output.stem + ".errors" + output.suffix)


class TableWriter:
    """Writes blocks to one CSV or Parquet file, replaced atomically when the block ends.

    `write_ok` keeps the rows that were scored (no `error`, no row number); `write_failed` the
    others: their input columns, row number and reason. A file that receives no row is still written
    when it is the output (with its columns), and removed when it is an errors file.
    """

    def __init__(self, path: Path, keep_empty: bool = True) -> None:
        check_suffix(path)
        self.path, self.keep_empty = path, keep_empty
        self.partial = path.with_name(f".{path.name}.partial")
        self.rows = 0
        self._writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
        self._schema: pa.Schema | None = None

    def __enter__(self) -> TableWriter:
        return self

    def write_ok(self, block: pa.Table) -> None:
        ok = block.filter(pc.is_null(block.column("error")))
        self._write(ok.drop_columns(["error", ROW]))

    def write_failed(self, block: pa.Table, input_columns: list[str]) -> None:
        failed = block.filter(pc.is_valid(block.column("error")))
        self._write(failed.select([*input_columns, ROW, "error"]))

    def _write(self, table: pa.Table) -> None:
        if self._schema is None:
            self._schema = table.schema
        if table.num_rows == 0:
            return
        if self._writer is None:
            self.partial.parent.mkdir(parents=True, exist_ok=True)
            if self.path.suffix.lower() == ".csv":
                self._writer = pacsv.CSVWriter(self.partial, self._schema)
            else:
                self._writer = pq.ParquetWriter(self.partial, self._schema)
        self._writer.write_table(table.cast(self._schema))
        self.rows += table.num_rows

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._writer is None and self.keep_empty and kind is None and self._schema is not None:
            self._write_empty()
        if self._writer is not None:
            self._writer.close()
        if kind is not None:
            self.partial.unlink(missing_ok=True)
        elif self.partial.exists():
            self.partial.replace(self.path)
        else:
            self.path.unlink(missing_ok=True)  # no failed rows: no stale errors file either

    def _write_empty(self) -> None:
        empty = self._schema.empty_table()
        if self.path.suffix.lower() == ".csv":
            pacsv.write_csv(empty, self.partial)
        else:
            pq.write_table(empty, self.partial)


def start_ray(env_prefix: str) -> tuple[ModuleType, ModuleType]:
    """`ray` and `ray.data`, connected to RAY_ADDRESS's cluster or started here on 127.0.0.1.

    Locally, Ray would otherwise bind to the machine's network address; this flag (read when ray
    is imported) keeps every Ray process on loopback. On a cluster, the Space's settings
    (`env_prefix*` and HF_* variables) travel with the job to the workers.
    """
    address = os.environ.get("RAY_ADDRESS")
    if not address:
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray
    import ray.data

    if address:
        env = {k: v for k, v in os.environ.items() if k.startswith((env_prefix, "HF_"))}
        ray.init(address=address, runtime_env={"env_vars": env}, log_to_driver=False)
    else:
        ray.init(_node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    return ray, ray.data


def score_on_ray(
    table: pa.Table,
    scorer: type,
    scorer_kwargs: dict[str, Any],
    *,
    output: Path,
    errors: Path,
    actors: int,
    batch_size: int,
    env_prefix: str,
) -> int:
    """Score `table` with a pool of `scorer` actors (each built once with `scorer_kwargs`, called
    on Arrow blocks, adding its columns and `error`); write `output` and `errors`; return the exit
    code: 0 when every row was scored, 1 when some went to the errors file."""
    ray, data = start_ray(env_prefix)
    try:
        numbered = table.append_column(ROW, pa.array(range(1, table.num_rows + 1)))
        parts = blocks(numbered, actors, batch_size)
        scored = data.from_arrow(parts).map_batches(
            scorer,
            fn_constructor_kwargs=scorer_kwargs,
            compute=data.ActorPoolStrategy(size=min(actors, len(parts))),
            batch_size=batch_size,
            batch_format="pyarrow",
        )
        with TableWriter(output) as out, TableWriter(errors, keep_empty=False) as bad:
            for block in scored.iter_batches(batch_format="pyarrow", batch_size=None):
                out.write_ok(block)
                bad.write_failed(block, table.column_names)
    finally:
        ray.shutdown()
    print(f"scored {out.rows} rows into {output}", file=sys.stderr)
    if bad.rows:
        print(f"{bad.rows} rows could not be scored: see {errors}", file=sys.stderr)
    return 1 if bad.rows else 0
