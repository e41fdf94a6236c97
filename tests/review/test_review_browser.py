"""End to end in a real browser: Playwright drives Debian's Chromium (/usr/bin/chromium, headless) against
`codesft review serve`; five records are reviewed with the keyboard (one edited and re-verified, one
rejected), `codesft review apply` writes the next version, and the version reflects every decision. The
XSS record's payload would call a loopback listener if it ever ran: no request arrives."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codesft.cli import app

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at "
                                "/usr/bin/chromium (.ci/run installs it with apt; Playwright's own download "
                                "is not used)")
LEAP_FAILS = "def is_leap_year(year):\n    return year % 4 == 0\n"
LEAP_FIXED = "import calendar\n\n\ndef is_leap_year(year):\n    return calendar.isleap(year)\n"


def _launch(p):
    return p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                             args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])


def _faults(bundle_dir: Path) -> Path:
    result = CliRunner().invoke(app, ["faults", str(bundle_dir)])
    assert result.exit_code == 0, result.output
    return bundle_dir.parent / "v1.0.0+faults"


def test_review_five_records_with_the_keyboard_then_apply(fresh_bundle, tmp_path, serve, listener, read_records):
    from playwright.sync_api import expect, sync_playwright

    bundle = _faults(fresh_bundle)
    db = tmp_path / "review.sqlite"
    server = serve(bundle, db, "--sample", "1.0")
    items = json.loads(urllib.request.urlopen(server.url + "/api/queue", timeout=30).read())["items"]
    ids = [i["sample_id"] for i in items]
    by_id = {d["sample_id"]: d for d in read_records(bundle)}
    assert "leap year" in by_id[ids[3]]["messages"][0]["content"]  # the fourth record is the one we edit
    xss_id = next(sid for sid, d in by_id.items() if "<script>" in d["messages"][0]["content"])
    page_errors: list[str] = []

    with sync_playwright() as p:
        browser = _launch(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("pageerror", lambda exc: page_errors.append(str(exc)))
        # The refused edit's 422 is logged by the browser as a failed resource; anything else is an error.
        page.on("console", lambda msg: page_errors.append(msg.text) if msg.type == "error"
                and "status of 422" not in msg.text else None)
        status = page.locator("#save-status")

        def at(index: int) -> None:
            expect(page.locator("#sample-id")).to_have_text(ids[index])
            expect(page.locator("body")).to_have_attribute("data-ready", "1")  # the page script is listening

        page.goto(server.url + "/")
        page.fill("#reviewer", "ann")
        page.keyboard.press("Escape")  # leaves the field (saves the name); shortcuts work again
        page.locator("a.open").first.click()
        at(0)
        expect(page.locator("#reviewer")).to_have_value("ann")
        page.click("#rerun")  # re-run the record in the sandbox
        expect(page.locator("#rerun-result")).to_contain_text("passed: 1/1 passed", timeout=60_000)
        page.select_option("select[data-rubric=code_quality]", "4")
        page.keyboard.press("Escape")
        page.keyboard.press("a")
        expect(status).to_contain_text("saved #1: approve by ann")

        page.keyboard.press("j")
        at(1)
        page.keyboard.press("a")
        expect(status).to_contain_text("saved #2: approve by ann")

        page.keyboard.press("j")
        at(2)
        page.keyboard.press("r")
        expect(page.locator("#reject-reason")).to_be_focused()
        page.select_option("#reject-reason", "low_teaching_value")
        page.locator("#reject-form button").press("Enter")
        expect(status).to_contain_text("saved #3: reject by ann")
        expect(page.locator("#status")).to_have_text("reject")

        page.keyboard.press("j")
        at(3)
        page.keyboard.press("e")
        expect(page.locator("#edit-form")).to_be_visible()
        page.fill("#edit-solution", LEAP_FAILS)
        page.keyboard.press("Control+Enter")  # the edit is re-verified in the sandbox: it fails, nothing saved
        expect(status).to_contain_text("not saved: edited solution fails its tests", timeout=60_000)
        page.fill("#edit-solution", LEAP_FIXED)
        page.keyboard.press("Control+Enter")
        expect(status).to_contain_text("saved #4: edit by ann", timeout=60_000)
        expect(status).to_contain_text("re-verified: passed")
        page.keyboard.press("Escape")

        page.keyboard.press("j")
        at(4)
        page.keyboard.press("k")  # back: the edit is in the record's history
        at(3)
        expect(page.locator("#history")).to_contain_text("ann · edit")
        page.keyboard.press("j")
        at(4)
        page.keyboard.press("a")
        expect(status).to_contain_text("saved #5: approve by ann")

        page.goto(server.url + "/")
        expect(page.locator("#progress")).to_have_text("reviewed 5 / 9")

        # The XSS record: shown as text, nothing ran, nothing was fetched, no navigation happened.
        page.goto(f"{server.url}/records/{xss_id}")
        first = page.locator("#messages pre.text").first
        expect(first).to_contain_text(f'<script>fetch("http://127.0.0.1:{listener.port}/script")</script>')
        expect(first).to_contain_text("onerror=")
        time.sleep(1.5)  # time for a meta refresh or a late fetch
        assert page.url == f"{server.url}/records/{xss_id}"
        assert page.locator("script").count() == 1  # the app's own /static/review.js
        assert page.locator("main img, main meta").count() == 0
        browser.close()

    assert listener.hits == [], f"the payload ran: {listener.hits}"
    assert page_errors == []

    result = CliRunner().invoke(app, ["review", "apply", str(bundle), "--db", str(db)])
    assert result.exit_code == 0, result.output
    new = bundle.parent / "v1.0.1"
    manifest = json.loads((new / "manifest.json").read_text())
    assert manifest["parent_version"] == "1.0.0+faults"
    review = manifest["review"]
    assert (review["approved"], review["edited"], review["rejected"], review["records_unreviewed"]) == (3, 1, 1, 4)
    after = {d["sample_id"]: d for d in read_records(new)}
    assert after[ids[0]]["quality"]["review"]["rubric"]["code_quality"] == 4
    for i in (0, 1, 4):
        assert after[ids[i]]["quality"]["review"]["decision"] == "approve"
        assert after[ids[i]]["quality"]["review"]["reviewer"] == "ann"
    edited = after[ids[3]]
    assert edited["code"]["solution"] == LEAP_FIXED and edited["quality"]["verification"]["status"] == "passed"
    assert edited["quality"]["review"]["decision"] == "edit"
    assert ids[2] not in after
    rejected = [json.loads(line) for line in (new / "rejected.jsonl").read_text().splitlines()]
    entry = next(e for e in rejected if e.get("sample_id") == ids[2])
    assert entry["reason"] == "review:low_teaching_value" and entry["reviewer"] == "ann"
    old_lines = {json.loads(x)["sample_id"]: x for x in (bundle / "samples.jsonl").read_text().splitlines()}
    new_lines = {json.loads(x)["sample_id"]: x for x in (new / "samples.jsonl").read_text().splitlines()}
    for sid in ids[5:]:
        assert new_lines[sid] == old_lines[sid]
