"""An explorer in real JupyterLab and headless Chromium: no serious axe-core violation, and the
threshold slider moves by keyboard and updates the readout and the figure.

It reuses the quiz's browser harness (JupyterLab server, Chromium, axe-core from npm).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from test_browser import (
    CHROMIUM_ARGS,
    _chromium,
    _run_until_visible,
    _wait_for_stable_kernel,
    serve_lab,
)
from test_quiz_accessibility import SCREENSHOTS, _axe_script, _serious

NOTEBOOK = "explorer.ipynb"

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]

# The same scores as the unit tests' threshold explorer would get: small, fixed, no Keras.
CELL = """\
import numpy as np
from autograder.explorers import ThresholdExplorer

rng = np.random.default_rng(3)
y = (rng.random(120) < 0.4).astype(int)
scores = np.round(np.clip(0.35 * y + 0.65 * rng.random(120), 0, 1), 2)
explorer = ThresholdExplorer(y, scores, threshold=0.5)
explorer.show()
"""

_AXE_RUN = """async () => {
    const result = await axe.run(document.querySelector('.kc-explorer'), {
        runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                        'best-practice']},
    });
    return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                        nodes: v.nodes.map(n => n.target.join(' '))}));
}"""


@pytest.fixture(scope="module")
def explorer_page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A JupyterLab page showing a threshold explorer.

    Yields:
        ``page`` (Playwright) and ``axe`` (the script's path).
    """
    from playwright.sync_api import sync_playwright

    axe = _axe_script()
    chromium = _chromium()
    root = tmp_path_factory.mktemp("explorer")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    nbformat.write(notebook, Path(root) / NOTEBOOK)
    with serve_lab(root, NOTEBOOK) as lab, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        try:
            page.goto(lab["url"])
            page.locator(".jp-Notebook").first.wait_for(timeout=120_000)
            _wait_for_stable_kernel(lab["api"], lab["token"])
            _run_until_visible(page, page.locator(".kc-explorer img"), timeout=300)
            yield {"page": page, "axe": axe}
        except Exception:
            page.screenshot(path=str(SCREENSHOTS / "explorer-a11y-failure.png"))
            raise
        finally:
            browser.close()


def _readout(page: Any) -> str:
    return page.locator(".kc-explorer [role=status]").first.inner_text()


def test_axe_finds_no_serious_violation_in_an_explorer(explorer_page: dict[str, Any]) -> None:
    page = explorer_page["page"]
    page.add_script_tag(path=str(explorer_page["axe"]))
    violations = page.evaluate(_AXE_RUN)
    assert _serious(violations) == [], violations
    alt = page.locator(".kc-explorer img").first.get_attribute("alt")
    assert alt and alt.startswith("Confusion matrix at threshold 0.50")


def test_the_threshold_slider_moves_by_keyboard(explorer_page: dict[str, Any]) -> None:
    page = explorer_page["page"]
    assert _readout(page).startswith("Threshold 0.50:")
    image = page.locator(".kc-explorer img").first.get_attribute("src")
    handle = page.get_by_role("slider", name="Threshold (flag a score at or above it)")
    handle.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "document.querySelector('.kc-explorer [role=status]').innerText.startsWith("
        "'Threshold 0.55:')", timeout=60_000)
    assert re.match(r"Threshold 0\.55: \d+ of 120 flagged", _readout(page))
    assert page.locator(".kc-explorer img").first.get_attribute("src") != image
    page.keyboard.press("Home")
    page.wait_for_function(
        "document.querySelector('.kc-explorer [role=status]').innerText.startsWith("
        "'Threshold 0.00: 120 of 120 flagged')", timeout=60_000)
