"""The app in a real browser (Debian chromium via Playwright), used the way a person uses it.

Draws phases by dragging on the waveform, types actions, edits the table, loads an example and generates; every
test fails on a browser console error, an uncaught page error or an unexpected dialog.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

try:  # fixtures shared with the API tests
    from tests.test_app_server import MODEL_READY, ROOT, app_server  # noqa: F401
except ImportError:
    from test_app_server import MODEL_READY, ROOT, app_server  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api")

EXAMPLES = ROOT / "examples"  # read only: tests write under temp folders (screenshot: scripts/make_screenshot.py)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
XSS = '<img src=x onerror="window.__xss=1;alert(1)"> "><svg onload=alert(2)> $x$'
PHASE = "#phase-editor [data-phase-index]"


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


class Page:
    """A fresh tab on the app that records console errors, page errors and dialogs."""

    def __init__(self, browser, url: str):
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.confirm_answer = False
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("dialog", self._dialog)
        self.page.goto(url)
        self.page.wait_for_selector("#phase-editor .pe-toolbar")

    def _dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        if dialog.type == "confirm" and self.confirm_answer:
            dialog.accept()
        else:
            dialog.dismiss()

    # ------------------------------------------------------------------------------------------------ actions
    def upload(self, portrait: Path, audio: Path) -> None:
        self.page.locator("#portrait input[type=file]").set_input_files(str(portrait))
        self.page.locator("#speech input[type=file]").set_input_files(str(audio))
        self.page.wait_for_selector("#phase-editor .pe.has-audio")
        self.page.wait_for_function(
            "() => !document.querySelector('#phase-editor .pe-time').textContent.startsWith('0.00 s')"
        )

    def drag(self, a: float, b: float) -> None:
        """Press at fraction ``a`` of the waveform's width, move to ``b`` in small steps, release."""
        box = self.page.locator("#phase-editor .pe-wave").bounding_box()
        y = box["y"] + box["height"] * 0.6
        self.page.mouse.move(box["x"] + a * box["width"], y)
        self.page.mouse.down()
        for k in range(1, 13):
            self.page.mouse.move(box["x"] + (a + (b - a) * k / 12) * box["width"], y)
        self.page.mouse.up()

    def replace_audio(self, audio: Path) -> None:
        """Clear the speech clip with its ✕ button and upload another one, as a person would."""
        self.page.locator('#speech button[aria-label="Clear"]').click()
        self.page.locator("#speech input[type=file]").set_input_files(str(audio))

    def example(self, base_prompt: str) -> None:
        self.page.get_by_text(base_prompt, exact=True).first.click()

    def edit_cell(self, row: int, col: int, text: str) -> None:
        cell = self.page.locator(f'#phase-table [data-testid="cell-{row}-{col}"]')
        cell.dblclick()
        editor = cell.locator("input, textarea").first
        editor.fill(text)
        editor.press("Enter")

    # -------------------------------------------------------------------------------------------- observations
    def duration(self) -> float:
        return float(re.search(r"/ ([\d.]+) s", self.page.locator("#phase-editor .pe-time").inner_text()).group(1))

    def phase_items(self) -> list[str]:
        return self.page.locator("#phase-editor .pe-item").all_inner_texts()

    def table(self) -> list[list[str]]:
        # One snapshot in the page: the grid re-renders while Python pushes updates.
        return self.page.evaluate(
            """() => {
              const rows = {};
              for (const c of document.querySelectorAll('#phase-table [data-testid^="cell-"]')) {
                const [, r, k] = c.dataset.testid.split('-').map(Number);
                (rows[r] = rows[r] || ['', '', ''])[k] = c.innerText.trim().split('\\n')[0];  // not the cell menu's ⋮
              }
              return Object.keys(rows).map(Number).sort((a, b) => a - b).map((r) => rows[r]);
            }"""
        )

    def wait_table(self, predicate, timeout: float = 10.0) -> list[list[str]]:
        t0 = time.time()
        while True:
            rows = self.table()
            if predicate(rows):
                return rows
            if time.time() - t0 > timeout:
                raise AssertionError(f"table never matched; last {rows}")
            time.sleep(0.2)

    def region_span(self, index: int) -> tuple[float, float]:
        """(start, end) in seconds of region ``index``, read from where it is drawn."""
        style = self.page.locator(f'{PHASE}[data-phase-index="{index}"]').get_attribute("style")
        left = float(re.search(r"left: ([\d.]+)%", style).group(1))
        right = float(re.search(r"right: ([\d.]+)%", style).group(1))
        d = self.duration()
        return left / 100 * d, (100 - right) / 100 * d

    def check_clean(self) -> None:
        assert not self.errors, self.errors
        assert self.page.evaluate("() => window.__xss") is None
        assert "Traceback" not in self.page.content()
        self.context.close()


@pytest.fixture
def tab(browser, app_server):
    t = Page(browser, app_server.url)
    yield t
    t.check_clean()


def _no_overlap(rows) -> bool:
    spans = sorted((float(r[0]), float(r[1])) for r in rows)
    return all(a[1] <= b[0] + 1e-6 for a, b in zip(spans, spans[1:], strict=False))


# ----------------------------------------------------------------------------------------------------- tests
def test_draw_phases_type_actions_and_the_table_follows(tab):
    tab.upload(EXAMPLES / "portraits" / "astronaut.jpg", EXAMPLES / "orbit.wav")
    tab.drag(0.05, 0.35)
    tab.page.keyboard.type("nods twice")  # a new phase is selected with its action box focused
    tab.drag(0.55, 0.85)
    tab.page.locator("#phase-editor .pe-chip", has_text="raises eyebrows").click()
    rows = tab.wait_table(lambda r: [x[2] for x in r] == ["nods twice", "raises eyebrows"])
    d = tab.duration()
    assert float(rows[0][0]) == pytest.approx(0.05 * d, abs=0.15) and float(rows[0][1]) == pytest.approx(
        0.35 * d, abs=0.15
    )
    assert float(rows[1][0]) == pytest.approx(0.55 * d, abs=0.15)

    # A phase drawn from the gap into the next phase stops at that phase: phases never overlap.
    tab.drag(0.42, 0.7)
    tab.page.keyboard.type("smiles")
    rows = tab.wait_table(lambda r: len(r) == 3 and r[1][2] == "smiles")
    assert _no_overlap(rows) and float(rows[1][1]) == pytest.approx(float(rows[2][0]), abs=1e-3)

    # Dragging a phase's body moves it, but only up to its neighbour.
    tab.drag(0.2, 0.5)
    rows = tab.wait_table(lambda r: len(r) == 3 and float(r[0][0]) > 0.5)
    assert _no_overlap(rows) and float(rows[0][1]) == pytest.approx(float(rows[1][0]), abs=1e-3)

    # Select it in the list, delete it; the table follows.
    tab.page.locator("#phase-editor .pe-item", has_text="smiles").click()
    tab.page.locator("#phase-editor .pe-delete").click()
    tab.wait_table(lambda r: [x[2] for x in r] == ["nods twice", "raises eyebrows"])
    assert tab.page.locator(PHASE).count() == 2


def test_editing_the_table_moves_the_region(tab):
    tab.example("an astronaut reporting calmly from the station")
    tab.page.wait_for_function("() => true")
    tab.wait_table(lambda r: len(r) == 2)
    tab.page.wait_for_selector(f'{PHASE}[data-phase-index="1"]')
    assert tab.region_span(0)[0] == pytest.approx(0.0, abs=0.05)
    tab.edit_cell(0, 0, "1.0")
    t0 = time.time()
    while abs(tab.region_span(0)[0] - 1.0) > 0.05 and time.time() - t0 < 10:
        time.sleep(0.2)
    assert tab.region_span(0)[0] == pytest.approx(1.0, abs=0.05)
    assert tab.phase_items()[0].startswith("1. 1.00–")
    # An overlap typed into the table gets the library's message, naming the phases and the fix.
    tab.edit_cell(1, 0, "1.5")
    sync_api.expect(tab.page.locator(".toast-body").first).to_contain_text("overlaps")


def test_action_text_with_html_is_shown_as_text(tab):
    tab.upload(EXAMPLES / "portraits" / "grace_hopper.jpg", EXAMPLES / "welcome.wav")
    tab.drag(0.1, 0.4)
    tab.page.locator("#phase-editor .pe-text").fill(XSS)
    tab.page.locator("#phase-editor .pe-text").press("Enter")
    tab.wait_table(lambda r: len(r) == 1 and r[0][2] == XSS)
    tab.page.locator("#speech").click()  # move focus away so nothing is mid-edit
    # The same text typed into the table and the prompt.
    tab.edit_cell(0, 2, XSS + " again")
    tab.page.locator("#phase-editor .pe-item", has_text="again").wait_for()
    tab.page.get_by_label(re.compile("Base prompt")).fill(XSS)
    time.sleep(1.0)
    assert XSS in tab.phase_items()[0]
    region_label = tab.page.locator(PHASE).first.inner_text()
    assert "<img src=x" in region_label
    assert tab.page.locator('img[src="x"]').count() == 0 and tab.page.locator("svg[onload]").count() == 0
    assert tab.dialogs == []


def test_new_audio_asks_before_clearing_phases(tab):
    tab.example("a woman reacting to good news")
    tab.wait_table(lambda r: len(r) == 3)
    tab.confirm_answer = False  # Cancel: keep the phases (trimmed to the new clip)
    tab.replace_audio(EXAMPLES / "orbit.wav")
    tab.page.wait_for_function("() => document.querySelector('#phase-editor .pe-time').textContent.includes('6.30')")
    assert len(tab.dialogs) == 1 and tab.dialogs[0].startswith("confirm:")
    assert len(tab.wait_table(lambda r: len(r) == 3)) == 3
    tab.confirm_answer = True  # OK: clear them
    tab.replace_audio(EXAMPLES / "doubt.wav")
    tab.wait_table(lambda r: len(r) == 0)
    assert len(tab.dialogs) == 2 and tab.page.locator(PHASE).count() == 0


def test_example_loads_every_input_and_generate_plays_with_plots(tab):
    tab.example("a woman talking warmly to the camera")
    tab.wait_table(
        lambda r: [x[2] for x in r] == ["nods twice", "smiles and raises her eyebrows", "tilts her head to the right"]
    )
    page = tab.page
    page.wait_for_selector(f'{PHASE}[data-phase-index="2"]')
    expect = sync_api.expect
    expect(page.locator("#portrait img").first).to_be_visible()
    expect(page.get_by_label(re.compile("Base prompt"))).to_have_value("a woman talking warmly to the camera")
    expect(page.locator("#plan-import")).to_contain_text("welcome.phases")
    expect(page.locator("#speech")).to_contain_text("0:07")

    page.locator("#generate").click()
    expect(page.locator("#generate")).to_be_disabled(timeout=5_000)
    video = page.locator("#result-video video")
    video.wait_for(timeout=120_000)
    expect(page.locator("#generate")).to_be_enabled(timeout=30_000)
    page.wait_for_function(
        "() => { const v = document.querySelector('#result-video video'); return v && v.readyState >= 2; }"
    )
    video.evaluate("v => v.play()")
    page.wait_for_function("() => document.querySelector('#result-video video').currentTime > 0.2")
    for plot in ("#schedule-plot img", "#phase-plot img"):
        expect(page.locator(plot)).to_be_visible()
    expect(page.locator('#report-file a[href*="report.json"]')).to_be_visible()
    assert "Traceback" not in page.content()


MARKUP = [
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=2;alert(2)">',
    '"><svg onload=alert(3)>',
]


def test_markup_in_phases_and_prompt_stays_text_through_a_generation(tab):
    """Each payload alone in a phase, all three in the base prompt: shown as text in the editor, its region labels
    and the table, before and after Generate; the plots render; nothing runs, no dialog opens. (The plots' text
    itself is checked in test_bad_inputs_app.py, which renders the returned report through actavatar.viz.)"""
    tab.upload(EXAMPLES / "portraits" / "grace_hopper.jpg", EXAMPLES / "welcome.wav")
    for payload, (a, b) in zip(MARKUP, [(0.05, 0.3), (0.4, 0.6), (0.7, 0.9)], strict=True):
        tab.drag(a, b)
        tab.page.locator("#phase-editor .pe-text").fill(payload)
        tab.page.locator("#phase-editor .pe-text").press("Enter")
    tab.wait_table(lambda r: [x[2] for x in r] == MARKUP)
    tab.page.get_by_label(re.compile("Base prompt")).fill(" ".join(MARKUP))
    tab.page.locator("#generate").click()
    for plot in ("#schedule-plot img", "#phase-plot img"):
        sync_api.expect(tab.page.locator(plot)).to_be_visible(timeout=120_000)
    assert [row[2] for row in tab.table()] == MARKUP
    items = tab.phase_items()
    labels = tab.page.locator(PHASE).all_inner_texts()
    for k, payload in enumerate(MARKUP):
        assert payload in items[k]
        assert payload[:12] in labels[k]
    sync_api.expect(tab.page.get_by_label(re.compile("Base prompt"))).to_have_value(" ".join(MARKUP))
    page = tab.page
    assert page.locator('img[src="x"]').count() == 0 and page.locator("svg[onload]").count() == 0
    assert page.evaluate("() => [...document.scripts].some((s) => s.textContent.includes('__xss=1'))") is False
    assert tab.dialogs == []


def toasts(page, kind: str) -> list[str]:
    """Texts of the toasts of one kind ("error", "warning", "info") on the page now."""
    return page.locator(f'[data-testid="toast-body"].{kind}').all_inner_texts()


@pytest.fixture
def three_seconds(tmp_path) -> Path:
    import soundfile as sf

    wave, sr = sf.read(EXAMPLES / "welcome.wav", dtype="float32")
    path = tmp_path / "three_seconds.wav"
    sf.write(path, wave[: 3 * sr], sr)
    return path


def test_a_phase_typed_past_the_end_shows_the_same_in_table_and_waveform(tab, three_seconds):
    tab.upload(EXAMPLES / "portraits" / "astronaut.jpg", three_seconds)
    assert tab.duration() == pytest.approx(3.0, abs=0.01)
    tab.drag(0.1, 0.4)
    tab.page.keyboard.type("nods")
    tab.wait_table(lambda r: len(r) == 1 and r[0][2] == "nods")
    tab.edit_cell(0, 1, "9")  # past the 3 s clip: trimmed to its end in both views, with one note saying so
    tab.wait_table(lambda r: len(r) == 1 and r[0][1] == "3")
    tab.edit_cell(0, 0, "2")
    rows = tab.wait_table(lambda r: len(r) == 1 and r[0][:2] == ["2", "3"])
    t0 = time.time()
    while tab.region_span(0) != pytest.approx((2.0, 3.0), abs=0.03) and time.time() - t0 < 10:
        time.sleep(0.2)
    assert tab.region_span(0) == pytest.approx((2.0, 3.0), abs=0.03)
    assert tab.phase_items() == ["1. 2.00–3.00 s nods"]
    time.sleep(1.5)  # the editor's settle-resend has fired: nothing moves back
    assert tab.table() == rows and tab.region_span(0) == pytest.approx((2.0, 3.0), abs=0.03)
    notes = toasts(tab.page, "info")
    assert len(notes) == 1 and "trimmed to end at 3 s" in notes[0], notes
    assert toasts(tab.page, "error") == [] and toasts(tab.page, "warning") == []


def test_a_file_that_is_not_an_image_is_rejected_at_upload(tab, tmp_path):
    fake = tmp_path / "portrait.jpg"
    fake.write_text("this is a text file, not a photo\n", encoding="utf-8")
    tab.page.locator("#portrait input[type=file]").set_input_files(str(fake))
    message = tab.page.locator('[data-testid="toast-body"].error').first
    sync_api.expect(message).to_contain_text("Cannot read portrait.jpg as an image: it is a text file", timeout=30_000)
    assert "Error" not in message.inner_text().replace("Error\n", "", 1)  # the title only: no exception names
    sync_api.expect(tab.page.locator("#portrait img")).to_have_count(0)  # removed: no broken preview left
    # A good photo afterwards is taken as usual.
    tab.page.locator("#portrait input[type=file]").set_input_files(str(EXAMPLES / "portraits" / "obama.jpg"))
    sync_api.expect(tab.page.locator("#portrait img").first).to_be_visible()
    tab.errors = [e for e in tab.errors if "Failed to load resource" not in e]  # the browser's own 4xx note


def test_the_new_phase_hint_goes_once_the_action_is_typed(tab):
    tab.upload(EXAMPLES / "portraits" / "astronaut.jpg", EXAMPLES / "orbit.wav")
    msg = tab.page.locator("#phase-editor .pe-msg")
    tab.drag(0.1, 0.3)
    sync_api.expect(msg).to_contain_text("New phase")
    tab.page.keyboard.type("nods")
    sync_api.expect(msg).to_have_text("")
    tab.drag(0.5, 0.7)
    sync_api.expect(msg).to_contain_text("New phase")
    tab.page.locator("#phase-editor .pe-chip", has_text="smiles").click()
    sync_api.expect(msg).to_have_text("")
