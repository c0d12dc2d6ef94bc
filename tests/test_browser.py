"""A learner's view, for real: JupyterLab serves the built lesson 01 notebook, headless Chromium
runs every cell, and clicking a wrong and then the right choice of its self-check quiz shows the
matching feedback."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autograder.notebooks import build
from autograder.quiz import load_quiz

STEM = "01-keras-sequential-api"
QUESTION = "import-keras-today"
SCREENSHOT = Path("/tmp/quiz-browser.png")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]


def _chromium() -> str:
    """The Chromium binary, or skip (CI sets REQUIRE_BROWSER, and then a missing one fails)."""
    path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if Path(path).is_file():
        return path
    if os.environ.get("REQUIRE_BROWSER"):
        pytest.fail(f"REQUIRE_BROWSER is set but Chromium is missing at {path}")
    pytest.skip(f"Chromium not found at {path}; set CHROMIUM_PATH or install chromium")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_server(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - local server
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer at {url} within {timeout:.0f} s")


def _start_session(base: str, token: str, notebook: str) -> None:
    body = {"path": notebook, "name": notebook, "type": "notebook", "kernel": {"name": "python3"}}
    request = urllib.request.Request(
        f"{base}/api/sessions",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - local server
        assert response.status == 201, response.status


@pytest.fixture(scope="module")
def lab(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """JupyterLab on a free port serving a folder with the built lesson 01; stopped at the end.

    Yields:
        The notebook's URL (with the token) and the served folder.
    """
    root = tmp_path_factory.mktemp("lab")
    source = repo / "lessons" / f"{STEM}.md"
    if not source.is_file():
        pytest.fail(f"The lesson source {source} is missing")
    build([source], root)
    # Isolated user settings: no news pop-up over the notebook, no reused workspace.
    settings = root / ".lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}), encoding="utf-8"
    )
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "COURSE_EPOCHS": "1",
        "JUPYTERLAB_SETTINGS_DIR": str(root / ".lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(root / ".lab-workspaces"),
        "JUPYTER_RUNTIME_DIR": str(root / ".jupyter-runtime"),
    }
    jupyter = Path(sys.executable).with_name("jupyter")
    command = [
        str(jupyter) if jupyter.exists() else shutil.which("jupyter") or "jupyter",
        "lab",
        "--no-browser",
        f"--port={port}",
        "--ip=127.0.0.1",
        f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.port_retries=0",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and CI runners often run as root
    log = (root / "lab.log").open("wb")
    server = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for_server(f"{base}/api/status?token={token}", server, timeout=120)
        # Start the notebook's kernel before the page opens: left to itself, JupyterLab may
        # start two at once and keep the one it then shuts down ("Select Kernel" dialog).
        _start_session(base, token, f"{STEM}.ipynb")
        yield f"{base}/lab/tree/{STEM}.ipynb?token={token}", root
    finally:
        # Stops the server and, with it, every kernel it started.
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


def _run_all_cells(page: Any) -> None:
    """Run > Run All Cells from the menu bar, once the kernel is connected and idle."""
    started = page.locator(".jp-InputPrompt", has_text=re.compile(r"\[(\*|\d+)\]"))
    kernel_dialog = page.locator(".jp-Dialog").get_by_role("button", name="Select")
    for _attempt in range(3):
        # The toolbar's execution indicator reports the kernel's state once it is connected.
        page.wait_for_function(
            "document.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status === 'idle'",
            timeout=120_000,
        )
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if started.count():
                return
            if kernel_dialog.count() and kernel_dialog.first.is_visible():
                # JupyterLab asks which kernel to use: accept its preselected Python 3.
                kernel_dialog.first.click()
            time.sleep(0.5)
    raise AssertionError("JupyterLab never started running the notebook's cells")


def test_lesson_01_quiz_gives_feedback_in_a_real_browser(lab: tuple[str, Path]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, root = lab
    question = load_quiz(STEM, save=False).quiz.question(QUESTION)
    wrong_index = next(i for i, c in enumerate(question.choices) if not c.correct)
    right_index = next(i for i, c in enumerate(question.choices) if c.correct)
    wrong_words = " ".join(question.choices[wrong_index].feedback.split()[:8]).replace("`", "")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(url)
            # The notebook is open and its kernel is ready when the status shows "Idle".
            page.locator(".jp-Notebook").first.wait_for(timeout=120_000)
            expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=60_000)
            _run_all_cells(page)
            quiz = page.locator(".quiz").first
            quiz.wait_for(timeout=300_000)
            card = page.locator(f".quiz-q-{QUESTION}")
            card.scroll_into_view_if_needed()
            radios = card.locator("input[type=radio]")
            expect(radios).to_have_count(len(question.choices))

            radios.nth(wrong_index).check()
            card.get_by_role("button", name="Check").click()
            feedback = card.locator(".quiz-feedback")
            expect(feedback).to_contain_text("Not yet.", timeout=15_000)
            expect(feedback).to_contain_text(wrong_words)

            # The right answer with the keyboard only: focus the choice, Space, then the
            # Check button, Enter.
            radios.nth(right_index).focus()
            page.keyboard.press("Space")
            expect(radios.nth(right_index)).to_be_checked()
            card.get_by_role("button", name="Check").focus()
            page.keyboard.press("Enter")
            expect(feedback).to_contain_text("Correct.", timeout=15_000)
            card.get_by_role("button", name="Hint").click()
            expect(card).to_contain_text("Hint 1 of")
            expect(page.locator(".quiz-summary")).to_contain_text("1 of 14 questions right")
            card.screenshot(path=str(SCREENSHOT))
        except Exception:
            page.screenshot(path=str(SCREENSHOT.with_name("quiz-browser-failure.png")))
            raise
        finally:
            browser.close()
    # The answer was saved beside the notebook, where the kernel runs.
    saved = json.loads((root / f".{STEM}.quiz-progress.json").read_text(encoding="utf-8"))
    assert saved["questions"][QUESTION]["value"] == right_index
