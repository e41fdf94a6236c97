"""Export formats (`codesft.export.formats`). The bundle names below are kept for old imports and resolve
lazily: `codesft.bundle` imports the formats, so importing it here at once would be circular."""

from typing import Any

__all__ = ["ALL_FORMATS", "Bundle", "load_bundle", "write_bundle"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        import codesft.bundle

        return getattr(codesft.bundle, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
