"""Kept for old imports: the bundle reader and writer live in `codesft.bundle`."""

from codesft.bundle import (ALL_FORMATS, EXPORT_SPLITS, SOFT_REASONS, Bundle, bundle_path, load_bundle, parquet_schema,
                            parquet_tables, path_component_problem, prepare, prepare_dict, primary_reason,
                            rejected_entry, write_bundle, write_prepared)

__all__ = ["ALL_FORMATS", "EXPORT_SPLITS", "SOFT_REASONS", "Bundle", "bundle_path", "load_bundle", "parquet_schema",
           "parquet_tables", "path_component_problem", "prepare", "prepare_dict", "primary_reason",
           "rejected_entry", "write_bundle", "write_prepared"]
