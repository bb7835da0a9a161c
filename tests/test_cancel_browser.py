"""Stopping a generation in a real browser (Debian chromium via Playwright): the Stop button, and closing the tab.

Stop shows only while a run is queued or running; clicking it, or closing the tab mid-run, stops the run on the
server within a step, leaves no file, and leaves the server idle (checks shared with ``test_cancel.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf
from conftest import speechlike

try:  # the server (concurrency 1, fast heartbeat) and the checks of the API tests
    from tests.test_browser import CHROMIUM, Page, browser  # noqa: F401
    from tests.test_cancel import PORTRAIT, assert_stopped_and_clean, request_folders, server, wait_until  # noqa: F401
except ImportError:
    from test_browser import CHROMIUM, Page, browser  # noqa: F401
    from test_cancel import PORTRAIT, assert_stopped_and_clean, request_folders, server, wait_until  # noqa: F401

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def long_speech(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cancel_browser_audio") / "speech.wav"
    sf.write(path, speechlike(20.0, seed=5), 16000)  # long enough to be stopped mid-run with the default settings
    return path


def start_generation(tab: Page, server, audio: Path) -> set[Path]:
    """Upload, click Generate, wait until the server is working on it; return the request folders from before."""
    before = request_folders(server)
    tab.upload(PORTRAIT, audio)
    tab.page.locator("#generate").click()
    wait_until(lambda: request_folders(server) - before, 60, "the server to start the run", poll=0.05)
    return before


def test_stop_button_shows_only_while_generating_and_stops_the_run(browser, server, long_speech):
    expect = sync_api.expect
    tab = Page(browser, server.url)
    stop, generate = tab.page.locator("#stop"), tab.page.locator("#generate")
    expect(stop).to_be_hidden()
    before = start_generation(tab, server, long_speech)
    expect(stop).to_be_visible()
    expect(generate).to_be_disabled()
    stop.click()
    expect(stop).to_be_hidden(timeout=10_000)
    expect(generate).to_be_enabled()
    expect(generate).to_have_text("Generate")
    assert_stopped_and_clean(server, before)
    expect(tab.page.locator("#result-video video")).to_have_count(0)  # no result was shown
    tab.check_clean()


def test_closing_the_tab_stops_the_run(browser, server, long_speech):
    tab = Page(browser, server.url)
    before = start_generation(tab, server, long_speech)
    tab.context.close()
    assert_stopped_and_clean(server, before)
