"""The versioned bundle: writer and reader.

`write_bundle` streams samples once: every record goes to samples.jsonl (accepted/downgraded) or
rejected.jsonl, and to each export format it fits. The bundle is built in a temp dir beside the
target and renamed into place, so a reader never sees half a bundle and a killed run leaves only
a temp dir that the next run removes. No wall-clock time is written anywhere: identical inputs
give byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from codesft import __version__
from codesft.export.formats import (
    JSONL_FORMATS,
    parquet_row_dict,
    rows_and_compatibility,
)
from codesft.export.stats import Stats
from codesft.schema import SCHEMA_VERSION, Sample, Split

EXPORT_SPLITS = ("train", "validation", "test")  # holdout stays in samples.jsonl only
ALL_FORMATS = [*JSONL_FORMATS, "parquet"]
# The gate's downgrade reasons (codesft.curate.gate.soft_reasons): a later stage's rejection is the primary reason.
SOFT_REASONS = {"too_many_iterations", "no_code_pair", "unverified", "before_passes"}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def primary_reason(reasons: list[str]) -> str:
    hard = [r for r in reasons if r.split(":", 1)[0] not in SOFT_REASONS]
    return (hard or reasons or ["rejected"])[0]


def rejected_entry(s: Sample | dict[str, Any]) -> dict[str, Any]:
    """The rejected.jsonl entry of a record (a Sample or its JSON form, `Sample.model_dump(mode="json")`)."""
    d = s.model_dump(mode="json") if isinstance(s, Sample) else s
    return {"file": d["provenance"]["source_path"], "line": d["provenance"]["line"],
            "reason": primary_reason(d["quality"]["reasons"]), "reasons": list(d["quality"]["reasons"]),
            "stage": d["source"]["stage"], "sample_id": d["sample_id"], "record": d}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _split_for(d: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Give a record (JSON form) without a split the one `split` would assign (in place)."""
    if d.get("split") is not None:
        return d
    from codesft.curate.config import SplitConfig
    from codesft.curate.split import assign

    seed = int(config.get("seed", 42))
    cfg = SplitConfig(**(config.get("split") or {}))
    group_key = d["source"]["group_key"]
    d["split"] = Split(assignment=assign(seed, group_key, cfg), seed=seed, group_key=group_key).model_dump(mode="json")
    return d


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


class _ParquetSink:
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


def _formats(formats: list[str] | None, config: dict) -> list[str]:
    return list(formats if formats is not None else config.get("formats") or ALL_FORMATS)


def prepare(s: Sample, formats: list[str], config: dict) -> dict[str, Any]:
    """Everything the writer needs from one record, as strings and small dicts (pure: runs in workers).

    Rejected: {"rejected": line, "stat": slim entry}. Kept: {"sample": line, "split", "rows": {format:
    line}, "parquet": row or None, "stat": Stats.sample_info}."""
    return prepare_dict(s.model_dump(mode="json"), formats, config)


def prepare_dict(d: dict[str, Any], formats: list[str], config: dict) -> dict[str, Any]:
    """`prepare` for a record in its JSON form (`Sample.model_dump(mode="json")`, e.g. `json.loads` of a
    canonical `Sample.to_json` line), which it may modify. The sample line is `_dumps(d)`, byte-equal to
    `Sample.to_json` of the same record."""
    from codesft.curate.redact import RULES, redact_value

    if d["quality"]["decision"] == "rejected":
        entry = rejected_entry(d)
        # Defence in depth: nothing rejected leaves in clear. The record inside is walked only when its own
        # prefilter (ids and hashes left out) says some rule could match; the entry is re-dumped only if changed.
        found: list = []
        redacted = redact_value(entry, RULES, "", found)
        if found:
            entry = redacted
        return {"rejected": _dumps(entry), "stat": Stats.rejected_info(entry)}
    d = _split_for(d, config)
    rows, d["export_compatibility"] = rows_and_compatibility(d, formats)
    line = _dumps(d)
    sp = d["split"]["assignment"]
    rows = {fmt: _dumps(row) for fmt, row in rows.items()} if sp in EXPORT_SPLITS else {}
    parquet = parquet_row_dict(d, line) if "parquet" in formats and sp in EXPORT_SPLITS else None
    exported = list(rows) + (["parquet"] if parquet is not None else [])
    return {"sample": line, "split": sp, "rows": rows, "parquet": parquet, "stat": Stats.sample_info_dict(d, exported)}


def path_component_problem(value: str) -> str | None:
    """Why `value` cannot be one directory name under the output dir (None when it can)."""
    if not value or value in (".", ".."):
        return "must be a non-empty name other than '.' or '..'"
    if "/" in value or "\\" in value or "\x00" in value:
        return "must not contain '/', '\\' or NUL (it names one directory under --out)"
    if value.startswith("."):
        return "must not start with '.' (names starting with '.' are the bundle writer's temp and work dirs)"
    return None


def bundle_path(out_dir: str | Path, name: str, version: str) -> Path:
    """OUT_DIR/NAME/v<version>, after checking that it stays under OUT_DIR and that OUT_DIR can hold it;
    ValueError (a user input error) otherwise."""
    for label, value in (("name", name), ("version", version)):
        problem = path_component_problem(value)
        if problem:
            raise ValueError(f"bundle {label} {value!r} {problem}")
    out = Path(out_dir)
    for parent in (out / name, out, *out.parents):  # the nearest existing one must be a directory
        if parent.exists():
            if not parent.is_dir():
                what = "exists and is not a directory" if parent == out else f"is under {parent}, which is not a directory"
                raise ValueError(f"output directory {out} {what}")
            break
    return out / name / f"v{version}"


def write_bundle(samples: Iterable[Sample], rejected: Iterable[dict], out_dir: str | Path, name: str, version: str,
                 config: dict, parent_version: str | None = None, formats: list[str] | None = None,
                 stats: dict[str, Any] | None = None) -> Path:
    """Write OUT_DIR/NAME/v<version>/ atomically and return its path. `stats` (optional) is extra
    pipeline statistics copied into summary.json and the manifest."""
    fmts = _formats(formats, config)
    return write_prepared((prepare(s, fmts, config) for s in samples), rejected, out_dir, name, version, config,
                          parent_version=parent_version, formats=fmts, stats=stats)


def write_prepared(prepared: Iterable[dict[str, Any]], rejected: Iterable[dict], out_dir: str | Path, name: str,
                   version: str, config: dict, parent_version: str | None = None, formats: list[str] | None = None,
                   stats: dict[str, Any] | None = None, manifest_extra: dict[str, Any] | None = None) -> Path:
    """`write_bundle` for records already turned into rows by `prepare` (e.g. in executor workers).
    `manifest_extra` adds top-level manifest keys (e.g. `review`, written by `codesft review apply`)."""
    from codesft.curate.redact import redact_value
    from codesft.report.dataset import render_html

    formats = _formats(formats, config)
    unknown = [f for f in formats if f not in ALL_FORMATS]
    if unknown:
        raise ValueError(f"unknown export format(s): {', '.join(unknown)}")
    final = bundle_path(out_dir, name, version)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".tmp-v{version}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = final.parent / f".tmp-v{version}-{os.getpid()}"
    tmp.mkdir()
    try:
        st = Stats()
        jsonl_formats = [f for f in formats if f in JSONL_FORMATS]
        handles = {}
        for fmt in jsonl_formats:
            (tmp / fmt).mkdir()
            for sp in EXPORT_SPLITS:
                handles[(fmt, sp)] = (tmp / fmt / f"{sp}.jsonl").open("w", encoding="utf-8", newline="\n")
        sinks = {}
        if "parquet" in formats:
            (tmp / "parquet").mkdir()
            sinks = {sp: _ParquetSink(tmp / "parquet" / f"{sp}.parquet") for sp in EXPORT_SPLITS}
        rej_fh = (tmp / "rejected.jsonl").open("w", encoding="utf-8", newline="\n")

        def write_rejected(entry: dict[str, Any]) -> None:
            entry = redact_value(entry)  # defence in depth: nothing rejected leaves in clear
            st.add_rejected(entry)
            rej_fh.write(_dumps(entry) + "\n")

        with (tmp / "samples.jsonl").open("w", encoding="utf-8", newline="\n") as out:
            for p in prepared:
                for sp, table in (p.get("parquet_tables") or {}).items():
                    if sinks:
                        sinks[sp].add_table(table)
                if "rejected" in p:
                    rej_fh.write(p["rejected"] + "\n")
                    st.add_rejected(p["stat"])
                    continue
                out.write(p["sample"] + "\n")
                sp = p["split"]
                for fmt, row in p["rows"].items():
                    handles[(fmt, sp)].write(row + "\n")
                if p.get("parquet") is not None and sinks:
                    sinks[sp].add(p["parquet"])
                st.add_info(p["stat"])
        for entry in rejected:
            write_rejected(dict(entry))
        rej_fh.close()
        for fh in handles.values():
            fh.close()
        for sink in sinks.values():
            sink.close()

        summary = st.summary(formats)
        if stats:
            summary["pipeline"] = stats
        (tmp / "summary.json").write_text(json.dumps(summary, sort_keys=True, indent=2, ensure_ascii=False) + "\n")
        (tmp / "report.html").write_text(render_html(summary, title=f"{name} v{version}"), encoding="utf-8")
        files = {p.relative_to(tmp).as_posix(): _sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        manifest = {
            "name": name, "version": version, "parent_version": parent_version, "codesft_version": __version__,
            "schema_version": SCHEMA_VERSION, "seed": config.get("seed"), "config": config, "formats": formats,
            "counts": summary["counts"], "files": files,
        }
        manifest.update({k: v for k, v in (manifest_extra or {}).items() if k not in manifest})
        (tmp / "manifest.json").write_text(json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n")
        if final.exists():
            old = final.parent / f".old-v{version}-{os.getpid()}"
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


@dataclass
class Bundle:
    path: Path
    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def version(self) -> str:
        return self.manifest["version"]

    def samples(self) -> Iterator[Sample]:
        with (self.path / "samples.jsonl").open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield Sample.from_json(line)

    def split(self, name: str) -> Iterator[Sample]:
        return (s for s in self.samples() if s.split is not None and s.split.assignment == name)

    def rejected(self) -> Iterator[dict[str, Any]]:
        with (self.path / "rejected.jsonl").open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)

    def config(self) -> dict[str, Any]:
        return self.manifest.get("config", {})

    def check(self) -> list[str]:
        """Files whose sha256 no longer matches the manifest (empty when intact)."""
        return [rel for rel, digest in self.manifest["files"].items()
                if not (self.path / rel).is_file() or _sha256(self.path / rel) != digest]


def _version_key(version: str) -> tuple:
    """PEP 440 order (1.10.0 > 1.9.0, 1.0.0+faults > 1.0.0); unparsable names sort first, by text."""
    from packaging.version import InvalidVersion, Version

    try:
        return (1, Version(version), "")
    except InvalidVersion:
        return (0, Version("0"), version)


def load_bundle(path: str | Path) -> Bundle:
    p = Path(path)
    if not (p / "manifest.json").is_file():
        versions = sorted(p.glob("v*/manifest.json"), key=lambda m: _version_key(m.parent.name[1:]))
        if not versions:
            raise FileNotFoundError(f"no bundle at {p} (expected manifest.json)")
        p = versions[-1].parent  # a bundle name dir: its highest version
    return Bundle(path=p, manifest=json.loads((p / "manifest.json").read_text(encoding="utf-8")))
