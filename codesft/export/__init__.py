"""Export formats and the versioned bundle (writer + reader)."""

from codesft.export.bundle import ALL_FORMATS, Bundle, load_bundle, write_bundle

__all__ = ["ALL_FORMATS", "Bundle", "load_bundle", "write_bundle"]
