"""The quiz for every learner (WCAG 2.1 AA), in real JupyterLab and headless Chromium.

A notebook that only shows lesson 01's quiz (every question kind the bank uses) is opened in
JupyterLab; then

- axe-core finds no serious or critical violation in the quiz, before and after answering,
  with a hint and a solution open, in the light and the dark theme;
- the whole quiz is answered with the keyboard alone (Tab, Shift+Tab, arrow keys, Space,
  Enter): every focused control shows a focus ring, each verdict appears in the question's
  ``role="status"`` live region in words, a hint and a solution open as disclosures, and the
  score line counts every question right; the answers are saved beside the notebook;
- in the light and the dark theme, the text of the quiz (feedback, prompt, choices, buttons)
  has a contrast of at least 4.5:1 against its background, from computed styles and from the
  screenshot's pixels of the feedback.

axe-core comes from npm (``tests/browser/package.json`` and its lock file); the test installs
it with ``npm ci`` when ``tests/browser/node_modules`` is missing.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from test_browser import (
    CHROMIUM_ARGS,
    _chromium,
    _run_all_cells,
    _run_until_visible,
    _wait_for_stable_kernel,
    serve_lab,
)

from autograder.quiz import load_quiz
from autograder.render.accessible import inline_html
from autograder.render.text import choice_label
from autograder.schema import (
    FixModel,
    MultipleSelect,
    Numeric,
    OutputShape,
    PredictOutput,
    Question,
    SingleChoice,
)

STEM = "01-keras-sequential-api"
SEED = "keyboard-learner"
NOTEBOOK = "quiz.ipynb"
BROWSER_DIR = Path(__file__).resolve().parent / "browser"
AXE = BROWSER_DIR / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(os.environ.get("QUIZ_SCREENSHOTS", "/tmp"))
MIN_CONTRAST = 4.5
# Under load a check waits for the kernel; a fix-the-model check imports Keras first.
VERDICT_TIMEOUT = 60_000
MODEL_TIMEOUT = 300_000

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]


def _axe_script() -> Path:
    """axe-core's browser build, installed from the lock file when missing."""
    if not AXE.is_file():
        npm = shutil.which("npm")
        if npm is None:
            if os.environ.get("REQUIRE_BROWSER"):
                pytest.fail("REQUIRE_BROWSER is set but npm is missing to install axe-core")
            pytest.skip("npm is missing: cannot install axe-core")
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR, check=True, timeout=600
        )
    return AXE


def _write_notebook(root: Path) -> None:
    cell = (
        "import autograder\n"
        f"quiz = autograder.load_quiz({STEM!r}, seed={SEED!r})\n"
        "quiz.show()"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, root / NOTEBOOK)


@pytest.fixture(scope="module")
def quiz_page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One JupyterLab page with the quiz shown, shared by the tests of this module (in order).

    Yields:
        ``page`` (Playwright), ``root`` (the served folder) and ``axe`` (the script's path).
    """
    from playwright.sync_api import expect, sync_playwright

    axe = _axe_script()
    chromium = _chromium()
    root = tmp_path_factory.mktemp("a11y")
    _write_notebook(root)
    with serve_lab(root, NOTEBOOK) as lab, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        try:
            page.goto(lab["url"])
            page.locator(".jp-Notebook").first.wait_for(timeout=120_000)
            expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=60_000)
            _wait_for_stable_kernel(lab["api"], lab["token"])
            _run_until_visible(page, page.locator(".kc-quiz"), timeout=400)
            yield {"page": page, "root": root, "axe": axe}
        except Exception:
            page.screenshot(path=str(SCREENSHOTS / "quiz-a11y-failure.png"))
            raise
        finally:
            browser.close()


# ---------------------------------------------------------------- helpers in the page

_AXE_RUN = """async () => {
    const result = await axe.run(document.querySelector('.kc-quiz'), {
        runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                        'best-practice']},
    });
    return result.violations.map(v => ({
        id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' ')),
    }));
}"""

# The contrast ratio of an element's text against what is behind it, from computed styles:
# semi-transparent colours (JupyterLab's font colours are rgba) are composed over the first
# opaque background up the tree, as the browser paints them.
_CONTRAST = """(selectors) => {
    const parse = (c) => {
        const m = c.match(/rgba?\\(([^)]+)\\)/);
        if (!m) return [0, 0, 0, 0];
        const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
        return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
    };
    const over = (top, bottom) => {
        const a = top[3] + bottom[3] * (1 - top[3]);
        if (a === 0) return [0, 0, 0, 0];
        return [0, 1, 2].map(i => (top[i] * top[3] + bottom[i] * bottom[3] * (1 - top[3])) / a)
            .concat([a]);
    };
    const background = (node) => {
        const layers = [];
        for (let n = node; n; n = n.parentElement) {
            const c = parse(getComputedStyle(n).backgroundColor);
            if (c[3] > 0) layers.push(c);
            if (c[3] >= 1) break;
        }
        let colour = [255, 255, 255, 1];
        for (const layer of layers.reverse()) colour = over(layer, colour);
        return colour;
    };
    const luminance = (c) => {
        const [r, g, b] = c.slice(0, 3).map(v => {
            v /= 255;
            return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const out = [];
    for (const selector of selectors) {
        for (const node of document.querySelectorAll(selector)) {
            // A field's text is its value; an empty one shows none to measure.
            const shown = 'value' in node && node.tagName !== 'BUTTON' ? node.value
                : node.textContent;
            if (!shown.trim() || !node.getClientRects().length) continue;
            const back = background(node);
            const text = over(parse(getComputedStyle(node).color), back);
            const [hi, lo] = [luminance(text), luminance(back)].sort((a, b) => b - a);
            out.push({selector, text: shown.trim().slice(0, 40),
                      ratio: (hi + 0.05) / (lo + 0.05)});
        }
    }
    return out;
}"""

_RING_CONTRAST = """() => {
    const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
    const luminance = (c) => {
        const [r, g, b] = c.map(v => {
            v /= 255;
            return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const node = document.activeElement;
    const style = getComputedStyle(node);
    const back = getComputedStyle(document.querySelector('.kc-quiz')).backgroundColor;
    const [hi, lo] = [luminance(rgb(style.outlineColor)), luminance(rgb(back))]
        .sort((a, b) => b - a);
    return {colour: style.outlineColor, background: back, width: parseFloat(style.outlineWidth),
            ratio: (hi + 0.05) / (lo + 0.05)};
}"""

_TEXT_SELECTORS = [
    ".kc-quiz .kc-title",
    ".kc-quiz .kc-heading",
    ".kc-quiz .kc-prompt p",
    ".kc-quiz .kc-prompt code",
    ".kc-quiz .kc-choice label",
    ".kc-quiz .kc-input-label",
    ".kc-quiz .kc-input",
    ".kc-quiz .kc-button",
    ".kc-quiz .kc-feedback p",
    ".kc-quiz .kc-feedback strong",
    ".kc-quiz .kc-hint-rung p",
    ".kc-quiz .kc-solution-body p",
    ".kc-quiz .kc-summary p",
]

# Times from a Check (a click, or Enter/Space on it, or Enter in a one-line answer) to the
# verdict in the live region, measured in the page.
_TIMER = """() => {
    if (window.__kcTimes) return;
    window.__kcTimes = [];
    let started = null;
    const start = (event) => {
        const t = event.target;
        const enter = event.type === 'keydown' && event.key === 'Enter'
            && t.matches && t.matches('.kc-quiz input.kc-input');
        const click = event.type === 'click' && t.closest && t.closest('.kc-check');
        if (click || enter) started = performance.now();
    };
    document.addEventListener('click', start, true);
    document.addEventListener('keydown', start, true);
    new MutationObserver(() => {
        if (started === null) return;
        for (const region of document.querySelectorAll('.kc-quiz .kc-feedback')) {
            if (/Correct:|Not yet:|Not attempted:|Could not check/.test(region.textContent)) {
                if (region.dataset.seen !== region.textContent) {
                    region.dataset.seen = region.textContent;
                    window.__kcTimes.push(performance.now() - started);
                    started = null;
                    return;
                }
            }
        }
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""

_FOCUS_RING = """() => {
    const node = document.activeElement;
    const style = getComputedStyle(node);
    return {tag: node.tagName, type: node.type || '', text: (node.textContent || '').trim(),
            label: node.labels && node.labels[0] ? node.labels[0].textContent.trim() : '',
            outline: style.outlineStyle, width: parseFloat(style.outlineWidth),
            inQuiz: !!node.closest('.kc-quiz'),
            question: node.closest('[data-question]')?.dataset.question || null};
}"""


def _axe(page: Any, axe: Path) -> list[dict[str, Any]]:
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(axe))
    return page.evaluate(_AXE_RUN)


def _serious(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def _set_theme(page: Any, name: str) -> None:
    """Settings > Theme > ``name`` from the menu bar, then wait until the page uses it."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Theme").first.hover()
    page.locator(".lm-Menu-itemLabel", has_text=name).first.click()
    page.wait_for_function(
        f"document.body.dataset.jpThemeName === {name!r}", timeout=60_000
    )
    # The theme's stylesheet is in when the quiz's background is the theme's own.
    page.wait_for_function(
        """(light) => {
            const c = getComputedStyle(document.querySelector('.kc-quiz')).backgroundColor;
            const v = c.match(/\\d+/g).slice(0, 3).map(Number);
            return light ? v[0] > 200 : v[0] < 60;
        }""",
        arg=name == "JupyterLab Light",
        timeout=60_000,
    )


def _answer(question: Question) -> Any:
    if isinstance(question, Numeric):
        return str(question.answer)
    if isinstance(question, OutputShape):
        return str(tuple(question.answer))
    if isinstance(question, PredictOutput):
        return question.answer
    if isinstance(question, FixModel):
        return question.reference
    return None


def _pixel_contrast(path: Path) -> float:
    """Contrast of text in a screenshot: the background (the commonest colour) against the
    pixel that differs from it most (the core of a glyph's stroke)."""
    from PIL import Image

    image = Image.open(path).convert("RGB")
    pixels = list(image.getdata())
    counts: dict[tuple[int, int, int], int] = {}
    for pixel in pixels:
        counts[pixel] = counts.get(pixel, 0) + 1
    back = max(counts, key=counts.__getitem__)

    def luminance(colour: tuple[int, int, int]) -> float:
        values = []
        for v in colour:
            c = v / 255
            values.append(c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4)
        return 0.2126 * values[0] + 0.7152 * values[1] + 0.0722 * values[2]

    lb = luminance(back)
    ratios = []
    for pixel in counts:
        lp = luminance(pixel)
        hi, lo = max(lp, lb), min(lp, lb)
        ratios.append((hi + 0.05) / (lo + 0.05))
    return max(ratios)


# ---------------------------------------------------------------- the tests


def test_axe_finds_no_serious_violation_in_a_fresh_quiz(quiz_page: dict[str, Any]) -> None:
    page = quiz_page["page"]
    violations = _axe(page, quiz_page["axe"])
    print("axe, fresh quiz (light):", json.dumps(violations, indent=1))
    assert not _serious(violations), violations


def test_the_accessibility_tree_names_every_control(quiz_page: dict[str, Any]) -> None:
    """What a screen reader is given: the roles and names in Chromium's accessibility tree."""
    from playwright.sync_api import expect

    page = quiz_page["page"]
    shown = load_quiz(STEM, save=False, seed=SEED).shown.questions
    total = len(shown)
    for number, question in enumerate(shown, start=1):
        card = page.locator(f".kc-q-{question.id}")
        name = f"Question {number} of {total}"
        if isinstance(question, SingleChoice | MultipleSelect):
            # The group is named by the question; each choice by its own label.
            role, control = (
                ("radiogroup", "radio") if isinstance(question, SingleChoice)
                else ("group", "checkbox")
            )
            # Named by the heading and then the prompt (the card itself is named by the heading).
            group = card.get_by_role(role, name=re.compile(f"^{name} \\S"))
            expect(group).to_have_count(1)
            expect(group.get_by_role(control)).to_have_count(len(question.choices))
            for index, choice in enumerate(question.choices):
                label = inline_html(choice_label(index, choice.text))
                label = html.unescape(re.sub(r"<[^>]+>", "", label))
                expect(group.get_by_role(control, name=label, exact=True)).to_have_count(1)
        else:
            expect(card.get_by_role("textbox", name="Your ")).to_have_count(1)
        expect(card.get_by_role("button", name="Check")).to_have_count(1)
        hint = card.get_by_role("button", name="Hint")
        expect(hint).to_have_attribute("aria-expanded", "false")
        solution = card.get_by_role("button", name="Show solution")
        expect(solution).to_have_attribute("aria-expanded", "false")
        expect(card.get_by_role("status")).to_have_attribute("aria-live", "polite")
    expect(page.locator(".kc-summary")).to_have_attribute("role", "status")


def test_the_whole_quiz_by_keyboard_only(quiz_page: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    page, root = quiz_page["page"], quiz_page["root"]
    session = load_quiz(STEM, save=False, seed=SEED)
    shown = session.shown.questions
    page.evaluate(_TIMER)
    keys = page.keyboard

    def focused() -> dict[str, Any]:
        state = page.evaluate(_FOCUS_RING)
        # A visible focus ring wherever the keyboard is.
        assert state["inQuiz"], state
        assert state["outline"] not in ("none", "") and state["width"] >= 2, state
        return state

    def tab_to(question_id: str, predicate: Any, limit: int = 8) -> dict[str, Any]:
        for _ in range(limit):
            keys.press("Tab")
            state = focused()
            if state["question"] == question_id and predicate(state):
                return state
        raise AssertionError(f"Tab never reached the wanted control of {question_id}: {state}")

    def is_button(text: str) -> Any:
        return lambda s: s["tag"] == "BUTTON" and s["text"].startswith(text)

    # The keyboard starts on the quiz's first control, as after Tab from the cell above.
    page.locator(".kc-quiz input, .kc-quiz textarea").first.focus()
    first = True
    for number, question in enumerate(shown, start=1):
        card = page.locator(f".kc-q-{question.id}")
        feedback = card.get_by_role("status")
        expect(feedback).to_have_attribute("aria-live", "polite")
        state = focused() if first else tab_to(
            question.id, lambda s: s["tag"] in ("INPUT", "TEXTAREA")
        )
        first = False
        if isinstance(question, SingleChoice):
            right = next(i for i, c in enumerate(question.choices) if c.correct)
            # Tab lands on the group's first radio; the arrow keys move and select.
            assert state["type"] == "radio"
            if right == 0:
                keys.press("Space")
            for _ in range(right):
                keys.press("ArrowDown")
            expect(card.get_by_role("radio").nth(right)).to_be_checked()
            tab_to(question.id, is_button("Check"), limit=1)
            keys.press("Enter")
        elif isinstance(question, MultipleSelect):
            for index, choice in enumerate(question.choices):
                if index:
                    state = tab_to(question.id, lambda s: s["type"] == "checkbox", limit=1)
                if choice.correct:
                    keys.press("Space")
            tab_to(question.id, is_button("Check"), limit=1)
            keys.press("Space")
        else:
            answer = _answer(question)
            if isinstance(question, FixModel):
                keys.press("Control+A")
            keys.type(answer)
            if state["tag"] == "INPUT":
                keys.press("Enter")  # a one-line answer is checked by Enter
            else:
                tab_to(question.id, is_button("Check"), limit=1)
                keys.press("Enter")
        timeout = MODEL_TIMEOUT if isinstance(question, FixModel) else VERDICT_TIMEOUT
        expect(feedback).to_contain_text("Correct:", timeout=timeout)
        expect(feedback).to_contain_text("✓")

        if number == 1:
            # Shift+Tab goes back to the answer, Tab forward again; then open a hint and the
            # solution, both disclosures.
            if isinstance(question, SingleChoice):
                keys.press("Shift+Tab")
                assert focused()["type"] == "radio"
                tab_to(question.id, is_button("Check"), limit=1)
            hint = card.get_by_role("button", name="Hint")
            expect(hint).to_have_attribute("aria-expanded", "false")
            tab_to(question.id, is_button("Hint"), limit=2)
            keys.press("Enter")
            expect(card.get_by_role("region", name="Hints")).to_contain_text("Hint 1 of")
            expect(card.locator(".kc-hint")).to_have_attribute("aria-expanded", "true")
            tab_to(question.id, is_button("Show solution"), limit=1)
            keys.press("Space")
            solution = card.get_by_role("region", name="Solution")
            expect(solution).to_be_visible()
            expect(card.locator(".kc-solution")).to_have_attribute("aria-expanded", "true")
            keys.press("Space")
            expect(solution).to_be_hidden()
            expect(card.locator(".kc-solution")).to_have_attribute("aria-expanded", "false")

    summary = page.locator(".kc-summary")
    expect(summary).to_have_attribute("role", "status")
    expect(summary).to_contain_text(f"{len(shown)} of {len(shown)} questions right")
    times = page.evaluate("() => window.__kcTimes")
    print(f"click-to-feedback in the page, ms: {[round(t) for t in times]}")
    saved = json.loads((root / f".{STEM}.quiz-progress.json").read_text(encoding="utf-8"))
    assert all(saved["questions"][q.id]["result"]["outcome"] == "passed" for q in shown)
    single = next(q for q in shown if isinstance(q, SingleChoice))
    right = next(c.text for c in single.choices if c.correct)
    assert saved["questions"][single.id]["value"] == right

    violations = _axe(page, quiz_page["axe"])
    print("axe, answered quiz with a hint (light):", json.dumps(violations, indent=1))
    assert not _serious(violations), violations


@pytest.mark.parametrize("theme", ["JupyterLab Light", "JupyterLab Dark"])
def test_contrast_in_light_and_dark_themes(quiz_page: dict[str, Any], theme: str) -> None:
    page = quiz_page["page"]
    _set_theme(page, theme)
    card = page.locator(".kc-quiz .kc-question").first
    ratios = page.evaluate(_CONTRAST, _TEXT_SELECTORS)
    worst = min(ratios, key=lambda r: r["ratio"])
    by_kind: dict[str, float] = {}
    for entry in ratios:
        by_kind[entry["selector"]] = min(by_kind.get(entry["selector"], 99), entry["ratio"])
    print(f"{theme}: lowest contrast per element", json.dumps(by_kind, indent=1))
    assert ".kc-quiz .kc-feedback p" in by_kind and ".kc-quiz .kc-button" in by_kind
    assert worst["ratio"] >= MIN_CONTRAST, worst

    # The focus ring (a non-text indicator) stands out from the page at 3:1 or more (1.4.11).
    card.locator("input, textarea").first.focus()
    page.keyboard.press("Tab")
    ring = page.evaluate(_RING_CONTRAST)
    print(f"{theme}: focus ring {ring['colour']} on {ring['background']}: {ring['ratio']:.2f}:1")
    assert ring["width"] >= 2 and ring["ratio"] >= 3, ring

    slug = theme.split()[-1].lower()
    card.scroll_into_view_if_needed()
    card.screenshot(path=str(SCREENSHOTS / f"quiz-{slug}.png"))
    shot = SCREENSHOTS / f"quiz-{slug}-feedback.png"
    # The verdict's paragraph alone: the coloured border beside it is not text.
    card.locator(".kc-feedback p").first.screenshot(path=str(shot))
    pixels = _pixel_contrast(shot)
    print(f"{theme}: feedback text from the screenshot's pixels {pixels:.2f}:1")
    assert pixels >= MIN_CONTRAST

    violations = _axe(page, quiz_page["axe"])
    print(f"axe ({theme}):", json.dumps(violations, indent=1))
    assert not _serious(violations), violations


def test_answers_come_back_when_the_quiz_is_shown_again(quiz_page: dict[str, Any]) -> None:
    """Running the cell again (a new quiz session, as after a kernel restart) restores every
    answer and verdict from the progress file beside the notebook."""
    from playwright.sync_api import expect

    page = quiz_page["page"]
    shown = load_quiz(STEM, save=False, seed=SEED).shown.questions
    radio = page.locator(".kc-quiz input[type=radio]").first
    before = radio.get_attribute("id")
    _run_all_cells(page)
    # A new rendering has new ids.
    page.wait_for_function(
        "(old) => { const r = document.querySelector('.kc-quiz input[type=radio]');"
        " return r && r.id !== old; }",
        arg=before,
        timeout=VERDICT_TIMEOUT * 2,
    )
    single = next(q for q in shown if isinstance(q, SingleChoice))
    card = page.locator(f".kc-q-{single.id}")
    right = next(i for i, c in enumerate(single.choices) if c.correct)
    expect(card.get_by_role("radio").nth(right)).to_be_checked()
    for question in shown:
        expect(page.locator(f".kc-q-{question.id}").get_by_role("status")).to_contain_text(
            "Correct:"
        )
    expect(page.locator(".kc-summary")).to_contain_text(
        f"{len(shown)} of {len(shown)} questions right"
    )
