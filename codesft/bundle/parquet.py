"""The bundle's Parquet files: one per export split, zstd, fixed 2048-row row groups.

Rows arrive one at a time (`ParquetSink.add`) or as Arrow tables built where the records are, e.g. in an
executor's workers (`parquet_tables`, `ParquetSink.add_table`); either way the sink cuts the same row
groups, so the file's bytes do not depend on how the rows arrived.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def parquet_schema():
    import pyarrow as pa

    msg = pa.struct([("role", pa.string()), ("content", pa.string())])
    return pa.schema([("sample_id", pa.string()), ("messages", pa.list_(msg)), ("tools", pa.string()),
                      ("category", pa.string()), ("language", pa.string()), ("difficulty", pa.string()),
                      ("score", pa.float64()), ("decision", pa.string()), ("verification", pa.string()),
                      ("solution", pa.string()), ("tests", pa.string()), ("entry_point", pa.string()),
                      ("incorrect", pa.string()), ("record", pa.string())])


def parquet_tables(prepared: list[dict[str, Any]]) -> dict[str, Any]:
    """Move the Parquet rows of a batch of `prepare` results into one Arrow table per split (built where
    the batch is, e.g. in a worker); the sink writes the same 2048-row row groups either way."""
    import pyarrow as pa

    rows: dict[str, list[dict[str, Any]]] = {}
    for p in prepared:
        row = p.pop("parquet", None)
        if row is not None:
            rows.setdefault(p["split"], []).append(row)
    schema = parquet_schema()
    return {sp: pa.Table.from_pylist(r, schema=schema) for sp, r in rows.items()}


class ParquetSink:
    BATCH = 2048  # rows per row group; the file's bytes depend on it

    def __init__(self, path: Path):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        self.schema = parquet_schema()
        self.writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        self.rows: list[dict[str, Any]] = []
        self.tables: list[Any] = []
        self.table_rows = 0

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.BATCH:
            self.flush()

    def add_table(self, table) -> None:
        self.tables.append(table)
        self.table_rows += table.num_rows
        while self.table_rows >= self.BATCH:
            self._write_tables(self.BATCH)

    def _write_tables(self, n: int) -> None:
        table = self.pa.concat_tables(self.tables)
        self.writer.write_table(table.slice(0, n).combine_chunks())
        rest = table.slice(n)
        self.tables, self.table_rows = ([rest] if rest.num_rows else []), rest.num_rows

    def flush(self) -> None:
        if self.rows:
            self.writer.write_table(self.pa.Table.from_pylist(self.rows, schema=self.schema))
            self.rows = []
        if self.table_rows:
            self._write_tables(self.table_rows)

    def close(self) -> None:
        self.flush()
        self.writer.close()
