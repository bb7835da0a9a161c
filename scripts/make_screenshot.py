"""Remake the README screenshot (assets/screenshot.png): the app with an example loaded and generated.

    python scripts/make_screenshot.py [--out assets/screenshot.png]

Starts ``python app.py`` on a free local port (the shipped model), opens it in Debian's chromium through Playwright,
loads the first example, generates and saves a full-page screenshot. The tests never write into the checkout; this
script is the one way the README's picture changes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_app_server import AppServer  # noqa: E402  (the tests' real-server fixture)

EXAMPLE = "a woman talking warmly to the camera"  # examples/examples.json: welcome.wav on grace_hopper.jpg
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "screenshot.png")
    args = parser.parse_args()
    from playwright.sync_api import expect, sync_playwright

    with tempfile.TemporaryDirectory() as tmp, AppServer(Path(tmp)) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server.url)
        page.wait_for_selector("#phase-editor .pe-toolbar")
        page.get_by_text(EXAMPLE, exact=True).first.click()
        page.wait_for_selector('#phase-editor [data-phase-index="2"]')
        page.locator("#generate").click()
        expect(page.locator("#generate")).to_be_disabled(timeout=5_000)
        expect(page.locator("#generate")).to_be_enabled(timeout=180_000)
        expect(page.locator("#schedule-plot img")).to_be_visible()
        page.evaluate("() => window.scrollTo(0, 0)")
        page.wait_for_timeout(500)
        page.screenshot(path=str(args.out), full_page=True)
        browser.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
