"""Files shipped inside the package (`codesft/data/`), found the same way from a checkout, an editable
install or a wheel: through importlib.resources, never relative to the current directory.

A config names one as `package:REL`, e.g. `package:examples/curate.yaml` (the `codesft run` default);
the checkout's top-level `examples/` is a link to the same files, for the commands in the docs.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from codesft.config import ConfigError

PACKAGE_PREFIX = "package:"


def package_data_dir() -> Path:
    root = files("codesft").joinpath("data")
    # The readers need real files (a git bundle is cloned, parquet is memory-mapped), so a zipped
    # install, whose resources are not on disk, is refused rather than half-working.
    if not isinstance(root, Path) or not root.is_dir():
        raise ConfigError(f"codesft's data files are not on disk ({root}); install codesft from a wheel or a checkout")
    return root


def package_data(rel: str) -> Path:
    """`examples/curate.yaml` -> that file inside the installed package; a missing one is a ConfigError."""
    root = package_data_dir()
    path = root.joinpath(*Path(rel).parts)
    if not path.resolve().is_relative_to(root.resolve()) or not path.exists():
        raise ConfigError(f"no file {rel!r} is shipped with codesft (looked in {root})")
    return path


def resolve_path(spec: str) -> Path:
    """`package:REL` -> a shipped file; anything else -> the path as given (relative to the current directory)."""
    if spec.startswith(PACKAGE_PREFIX):
        return package_data(spec[len(PACKAGE_PREFIX):])
    return Path(spec).expanduser()
