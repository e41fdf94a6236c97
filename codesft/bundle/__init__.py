"""The bundle: the one contract between stages. A versioned directory of records (samples.jsonl,
rejected.jsonl), their export rows, counts, a report and a manifest with every file's sha256 and the
version it derives from. Every command that writes a version writes it through `write_bundle` /
`write_prepared`; every command that reads one reads it through `load_bundle`.

This package sits low: it imports `codesft.schema`, the export row formats and the report renderer,
never a stage (curate, faults, train, evaluate, review, sandbox)."""

from codesft.bundle.manifest import Counts, Manifest, ManifestError
from codesft.bundle.parquet import ParquetSink, parquet_schema, parquet_tables
from codesft.bundle.reader import Bundle, load_bundle
from codesft.bundle.reasons import SOFT_REASONS, primary_reason, reason_code
from codesft.bundle.rows import ALL_FORMATS, EXPORT_SPLITS, prepare, prepare_dict, prepare_rejected, rejected_entry
from codesft.bundle.stats import Stats
from codesft.bundle.writer import bundle_path, path_component_problem, write_bundle, write_prepared

__all__ = ["ALL_FORMATS", "EXPORT_SPLITS", "SOFT_REASONS", "Bundle", "Counts", "Manifest", "ManifestError",
           "ParquetSink", "Stats", "bundle_path", "load_bundle", "parquet_schema", "parquet_tables",
           "path_component_problem", "prepare", "prepare_dict", "prepare_rejected", "primary_reason",
           "reason_code", "rejected_entry", "write_bundle", "write_prepared"]
