"""load_bundle on a bundle-name directory picks the highest version in PEP 440 order, not string order."""

import json

from codesft.bundle import load_bundle


def test_highest_version_is_semantic(tmp_path):
    for version in ("1.9.0", "1.10.0", "1.2.0+faults", "nightly"):
        d = tmp_path / "team" / f"v{version}"
        d.mkdir(parents=True)
        (d / "manifest.json").write_text(json.dumps({"version": version, "files": {}}))
    assert load_bundle(tmp_path / "team").path.name == "v1.10.0"
