"""A learner's view, for real: JupyterLab serves the built lesson 01 notebook, headless Chromium
runs every cell, and clicking a wrong and then the right choice of its self-check quiz shows the
matching feedback. Choices are found by their text: each learner sees them in an order of their
own."""

from __future__ import annotations

import contextlib
import json
import os
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


def lab_settings(root: Path) -> None:
    """Isolated JupyterLab user settings in ``root/.lab-settings`` for a test server.

    Args:
        root: The folder the server serves.
    """
    # No news pop-up over the notebook, no reused workspace.
    settings = root / ".lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}), encoding="utf-8"
    )
    # Start the notebook's kernel without asking, as a learner who ticked "Always start the
    # preferred kernel" would.
    tracker = root / ".lab-settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True, exist_ok=True)
    (tracker / "tracker.jupyterlab-settings").write_text(
        json.dumps({"autoStartDefaultKernel": True}), encoding="utf-8"
    )


@contextlib.contextmanager
def serve_lab(root: Path, notebook: str) -> Iterator[dict[str, Any]]:
    """JupyterLab on a free port serving ``root``; stopped, with its kernels, on exit.

    Args:
        root: The folder to serve (it gets its own settings, workspaces and runtime folders).
        notebook: The notebook (relative to ``root``) whose URL is yielded.

    Yields:
        ``url`` of the notebook (with the token), ``api`` base URL, ``token`` and ``root``.
    """
    lab_settings(root)
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
        yield {
            "url": f"{base}/lab/tree/{notebook}?token={token}",
            "api": base,
            "token": token,
            "root": root,
        }
    finally:
        # Stops the server and, with it, every kernel it started.
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def lab(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """JupyterLab serving a folder with the built lesson 01; stopped at the end.

    Yields:
        ``url`` of the notebook (with the token), ``api`` base URL, ``token`` and the served
        folder ``root``.
    """
    root = tmp_path_factory.mktemp("lab")
    source = repo / "lessons" / f"{STEM}.md"
    if not source.is_file():
        pytest.fail(f"The lesson source {source} is missing")
    build([source], root)
    with serve_lab(root, f"{STEM}.ipynb") as served:
        yield served


def _run_all_cells(page: Any) -> None:
    """Run > Run All Cells from the menu bar, once the kernel is connected and idle."""
    # The toolbar's execution indicator reports the kernel's state once it is connected.
    page.wait_for_function(
        "document.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status === 'idle'",
        timeout=120_000,
    )
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def _wait_for_stable_kernel(api: str, token: str, timeout: float = 180) -> None:
    """Wait until the notebook has one idle kernel that stays the same for a few seconds.

    Opening a notebook sometimes makes JupyterLab start two kernels and shut one down; cells
    sent in between are lost. Asking the server which kernel the session holds avoids that race.
    """
    request = urllib.request.Request(
        f"{api}/api/sessions", headers={"Authorization": f"token {token}"}
    )
    deadline = time.monotonic() + timeout
    stable_since, last = time.monotonic(), None
    while time.monotonic() < deadline:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local server
            sessions = json.loads(response.read())
        kernels = [(s["kernel"]["id"], s["kernel"]["execution_state"]) for s in sessions]
        if kernels != last:
            stable_since, last = time.monotonic(), kernels
        elif len(kernels) == 1 and kernels[0][1] == "idle" and time.monotonic() - stable_since > 5:
            return
        time.sleep(0.5)
    raise TimeoutError(f"the notebook's kernel did not settle within {timeout:.0f} s: {last}")


def _run_until_visible(page: Any, target: Any, timeout: float, stall: float = 90) -> None:
    """Run every cell until ``target`` shows, running again if the notebook stops progressing.

    A kernel replaced while cells were queued leaves them unrun, and JupyterLab may then ask
    which kernel to use ("Select Kernel"): accepting its preselected Python 3 and running again
    is what a learner would do.
    """
    kernel_dialog = page.locator(".jp-Dialog").get_by_role("button", name="Select")
    prompts = page.locator(".jp-InputPrompt")
    _run_all_cells(page)
    deadline = time.monotonic() + timeout
    progress, changed = None, time.monotonic()
    while time.monotonic() < deadline:
        if target.count() and target.first.is_visible():
            return
        if kernel_dialog.count() and kernel_dialog.first.is_visible():
            kernel_dialog.first.click()
            _run_all_cells(page)
            changed = time.monotonic()
        now_progress = " ".join(prompts.all_inner_texts())
        if now_progress != progress:
            progress, changed = now_progress, time.monotonic()
        elif time.monotonic() - changed > stall:
            _run_all_cells(page)  # nothing moved for a long time: the run was lost
            changed = time.monotonic()
        time.sleep(1)
    raise AssertionError(f"the notebook did not show {target} within {timeout:.0f} s")


def test_lesson_01_quiz_gives_feedback_in_a_real_browser(lab: dict[str, Any]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, root = lab["url"], lab["root"]
    quiz = load_quiz(STEM, save=False).quiz
    question = quiz.question(QUESTION)
    wrong = next(c for c in question.choices if not c.correct)
    right = next(c for c in question.choices if c.correct)
    wrong_words = " ".join(wrong.feedback.split()[:8]).replace("`", "")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(url)
            # The notebook is open and its kernel is ready when the status shows "Idle".
            page.locator(".jp-Notebook").first.wait_for(timeout=120_000)
            expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=60_000)
            _wait_for_stable_kernel(lab["api"], lab["token"])
            _run_until_visible(page, page.locator(".quiz"), timeout=400)
            card = page.locator(f".kc-q-{QUESTION}")
            card.scroll_into_view_if_needed()
            expect(card.get_by_role("radio")).to_have_count(len(question.choices))

            def radio(text: str) -> Any:
                # A radio's label is "B. text" with the letter this learner sees.
                found = card.get_by_role("radio", name=text.replace("`", ""))
                expect(found).to_have_count(1)
                return found

            radio(wrong.text).check()
            card.get_by_role("button", name="Check").click()
            feedback = card.get_by_role("status")
            expect(feedback).to_contain_text("Not yet:", timeout=15_000)
            expect(feedback).to_contain_text(wrong_words)

            # The right answer with the keyboard only: focus the choice, Space, then the
            # Check button, Enter.
            radio(right.text).focus()
            page.keyboard.press("Space")
            expect(radio(right.text)).to_be_checked()
            card.get_by_role("button", name="Check").focus()
            page.keyboard.press("Enter")
            expect(feedback).to_contain_text("Correct:", timeout=15_000)
            card.get_by_role("button", name="Hint").click()
            expect(card).to_contain_text("Hint 1 of")
            expect(page.locator(".kc-summary")).to_contain_text(
                f"1 of {len(quiz.questions)} questions right"
            )
            card.screenshot(path=str(SCREENSHOT))
        except Exception:
            page.screenshot(path=str(SCREENSHOT.with_name("quiz-browser-failure.png")))
            raise
        finally:
            browser.close()
    # The answer was saved beside the notebook, where the kernel runs, by the choice's text.
    saved = json.loads((root / f".{STEM}.quiz-progress.json").read_text(encoding="utf-8"))
    assert saved["questions"][QUESTION]["value"] == right.text
    assert saved["learner_seed"]
