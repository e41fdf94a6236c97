"""Writing a bundle version: OUT_DIR/NAME/v<version>/.

Records stream through once: every kept record goes to samples.jsonl and to each export format it fits,
every rejected one to rejected.jsonl. The bundle is built in a temp dir beside the target and renamed into
place, so a reader never sees half a bundle and a killed run leaves only a temp dir that the next run
removes. No wall-clock time is written anywhere: identical inputs give byte-identical files.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable

from codesft import __version__
from codesft.bundle.parquet import ParquetSink
from codesft.bundle.reader import sha256_file
from codesft.bundle.rows import ALL_FORMATS, EXPORT_SPLITS, dumps, prepare
from codesft.bundle.stats import Stats
from codesft.export.formats import JSONL_FORMATS
from codesft.schema import SCHEMA_VERSION, Sample


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


def _formats(formats: list[str] | None, config: dict) -> list[str]:
    chosen = list(formats if formats is not None else config.get("formats") or ALL_FORMATS)
    unknown = [f for f in chosen if f not in ALL_FORMATS]
    if unknown:
        raise ValueError(f"unknown export format(s): {', '.join(unknown)}")
    return chosen


class _Files:
    """The open files of a bundle being written in `tmp`, and the counts of what went into them."""

    def __init__(self, tmp: Path, formats: list[str]):
        self.stats = Stats()
        self.rows: dict[tuple[str, str], Any] = {}
        for fmt in (f for f in formats if f in JSONL_FORMATS):
            (tmp / fmt).mkdir()
            for sp in EXPORT_SPLITS:
                self.rows[(fmt, sp)] = (tmp / fmt / f"{sp}.jsonl").open("w", encoding="utf-8", newline="\n")
        self.parquet: dict[str, ParquetSink] = {}
        if "parquet" in formats:
            (tmp / "parquet").mkdir()
            self.parquet = {sp: ParquetSink(tmp / "parquet" / f"{sp}.parquet") for sp in EXPORT_SPLITS}
        self.samples = (tmp / "samples.jsonl").open("w", encoding="utf-8", newline="\n")
        self.rejected = (tmp / "rejected.jsonl").open("w", encoding="utf-8", newline="\n")

    def add(self, p: dict[str, Any]) -> None:
        """One `prepare` result (with the Arrow tables of its batch, if `parquet_tables` moved them here)."""
        for sp, table in (p.get("parquet_tables") or {}).items():
            if self.parquet:
                self.parquet[sp].add_table(table)
        if "rejected" in p:
            self.rejected.write(p["rejected"] + "\n")
            self.stats.add_rejected(p["stat"])
            return
        self.samples.write(p["sample"] + "\n")
        sp = p["split"]
        for fmt, row in p["rows"].items():
            self.rows[(fmt, sp)].write(row + "\n")
        if p.get("parquet") is not None and self.parquet:
            self.parquet[sp].add(p["parquet"])
        self.stats.add_info(p["stat"])

    def add_rejected(self, entry: dict[str, Any]) -> None:
        self.stats.add_rejected(entry)
        self.rejected.write(dumps(entry) + "\n")

    def close(self) -> None:
        for fh in (self.samples, self.rejected, *self.rows.values()):
            fh.close()
        for sink in self.parquet.values():
            sink.close()


def _write_json(path: Path, obj: dict[str, Any]) -> None:
    path.write_text(json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n")


def _write_manifest(tmp: Path, summary: dict[str, Any], fields: dict[str, Any], extra: dict[str, Any]) -> None:
    """manifest.json: `fields`, the counts and every file's sha256, then `extra` keys that add to them."""
    files = {p.relative_to(tmp).as_posix(): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
    manifest = {**fields, "codesft_version": __version__, "schema_version": SCHEMA_VERSION,
                "counts": summary["counts"], "files": files}
    manifest.update({k: v for k, v in extra.items() if k not in manifest})
    _write_json(tmp / "manifest.json", manifest)


def _fresh_tmp(final: Path, version: str) -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".tmp-v{version}-*"):  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    tmp = final.parent / f".tmp-v{version}-{os.getpid()}"
    tmp.mkdir()
    return tmp


def _publish(tmp: Path, final: Path, version: str) -> None:
    """Rename `tmp` into place; an existing version is swapped out first, then removed."""
    if final.exists():
        old = final.parent / f".old-v{version}-{os.getpid()}"
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(final)


def write_bundle(samples: Iterable[Sample], rejected: Iterable[dict], out_dir: str | Path, name: str, version: str,
                 config: dict, parent_version: str | None = None, formats: list[str] | None = None,
                 stats: dict[str, Any] | None = None) -> Path:
    """Write OUT_DIR/NAME/v<version>/ atomically and return its path. Kept samples must carry their split;
    `rejected` entries are written as given (see `rejected_entry`). `stats` (optional) is extra pipeline
    statistics copied into summary.json."""
    fmts = _formats(formats, config)
    return write_prepared((prepare(s, fmts, config) for s in samples), rejected, out_dir, name, version, config,
                          parent_version=parent_version, formats=fmts, stats=stats)


def write_prepared(prepared: Iterable[dict[str, Any]], rejected: Iterable[dict], out_dir: str | Path, name: str,
                   version: str, config: dict, parent_version: str | None = None, formats: list[str] | None = None,
                   stats: dict[str, Any] | None = None, manifest_extra: dict[str, Any] | None = None) -> Path:
    """`write_bundle` for records already turned into lines by `prepare`/`prepare_dict`/`prepare_rejected`
    (e.g. in executor workers); `rejected` entries follow them in rejected.jsonl. `parent_version` is the
    version this one derives from (the lineage; None for a bundle curated from sources). `manifest_extra`
    adds top-level manifest keys (e.g. `review`, written by `codesft review apply`)."""
    from codesft.report.dataset import render_html

    formats = _formats(formats, config)
    final = bundle_path(out_dir, name, version)
    tmp = _fresh_tmp(final, version)
    try:
        files = _Files(tmp, formats)
        for p in prepared:
            files.add(p)
        for entry in rejected:
            files.add_rejected(dict(entry))
        files.close()
        summary = files.stats.summary(formats)
        if stats:
            summary["pipeline"] = stats
        _write_json(tmp / "summary.json", summary)
        (tmp / "report.html").write_text(render_html(summary, title=f"{name} v{version}"), encoding="utf-8")
        fields = {"name": name, "version": version, "parent_version": parent_version, "seed": config.get("seed"),
                  "config": config, "formats": formats}
        _write_manifest(tmp, summary, fields, manifest_extra or {})
        _publish(tmp, final, version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
