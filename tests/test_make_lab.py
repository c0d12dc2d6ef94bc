"""``make lab``, the first command a learner types, run for real: it starts whether the user is
root (as in most containers) or not, prints a URL, and the server behind that URL serves every
lesson notebook, the widgets extension and nbgrader's learner tools, with nbgrader's instructor
tools (Formgrader, Create Assignment, Course List) switched off. ``jupyter lab`` started in a
course folder, as instructors start it, still serves Formgrader. Running ``make lab`` again never
overwrites a notebook that holds a learner's work."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

pytestmark = pytest.mark.xdist_group("make-lab")

URL = re.compile(r"(http://127\.0\.0\.1:\d+)/lab\?token=([0-9a-f]+)")
# What `make lab` must leave to instructors: lab plugins, and the server endpoints behind them.
INSTRUCTOR_PLUGINS = (
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
)
INSTRUCTOR_ENDPOINTS = ("formgrader", "formgraders")
# What a learner keeps: the Assignment List, the Validate button, and the Nbgrader menu, the
# learner's way to open the Assignment List (its instructor entries stay hidden: their commands
# come from the disabled plugins).
LEARNER_PLUGINS = (
    "@jupyter/nbgrader:assignment-list",
    "@jupyter/nbgrader:validate-assignment",
    "@jupyter/nbgrader:menu",
)
EXTENSIONS = ("@jupyter-widgets/jupyterlab-manager", "@jupyter/nbgrader")
START_TIMEOUT = 240  # seconds: building the lessons and starting JupyterLab on a busy machine


@dataclass
class Lab:
    """A running JupyterLab server and what it printed.

    Attributes:
        base: The server's base URL, such as ``http://127.0.0.1:8888``.
        token: Its login token.
        output: Every line it (and make) printed so far.
    """

    base: str
    token: str
    output: list[str] = field(default_factory=list)

    def get(self, path: str) -> tuple[int, bytes]:
        """GET a path of the server, logged in with the token.

        Args:
            path: Path below the base URL, without the leading slash.

        Returns:
            The HTTP status and the body.
        """
        request = urllib.request.Request(
            f"{self.base}/{path}", headers={"Authorization": f"token {self.token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - local
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def get_json(self, path: str) -> Any:
        """GET a JSON document; it must answer 200.

        Args:
            path: Path below the base URL.

        Returns:
            The parsed JSON.
        """
        status, body = self.get(path)
        assert status == 200, f"GET /{path} answered {status}: {body[:300]!r}"
        return json.loads(body)

    def page_config(self) -> dict[str, Any]:
        """The page configuration JupyterLab serves to the browser with ``/lab``.

        Returns:
            The ``jupyter-config-data`` of the page.
        """
        status, body = self.get("lab")
        assert status == 200, f"GET /lab answered {status}"
        found = re.search(
            rb'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
            body,
            re.DOTALL,
        )
        assert found, "the /lab page carries no jupyter-config-data"
        return json.loads(found.group(1))


def _environment(home: Path) -> dict[str, str]:
    """This environment with JupyterLab's per-user state in ``home`` and no outer make."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "JUPYTER_CONFIG_PATH")
    }
    for name, folder in (
        ("JUPYTER_CONFIG_DIR", "config"),  # a user's own config must not decide the outcome
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
    ):
        (home / folder).mkdir(parents=True, exist_ok=True)
        env[name] = str(home / folder)
    return env


def _stop(process: subprocess.Popen[str]) -> list[str]:
    """Stop a process group started with ``start_new_session``; returns any survivor."""
    try:
        family = [psutil.Process(process.pid)]
        family += family[0].children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    try:
        os.killpg(process.pid, signal.SIGTERM)  # JupyterLab shuts its kernels down on SIGTERM
    except ProcessLookupError:
        pass
    _, alive = psutil.wait_procs(family, timeout=30)
    for survivor in alive:
        survivor.kill()
    _, alive = psutil.wait_procs(alive, timeout=10)
    process.wait(timeout=10)
    return [f"{p.pid} {p.name()}" for p in alive if p.is_running()]


@contextmanager
def _serve(command: list[str], cwd: Path, env: dict[str, str]) -> Iterator[Lab]:
    """Run a command that starts JupyterLab, wait for its URL, yield it, stop it."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own process group, so make, JupyterLab and kernels stop
    )
    output: list[str] = []
    # A reader thread: the server keeps printing, and a full pipe would stall it.
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        found = None
        while found is None:
            found = URL.search("".join(output))
            if found is None and process.poll() is not None:
                reader.join(timeout=5)
                pytest.fail(
                    f"{' '.join(command)} exited with {process.returncode} before printing a "
                    f"URL:\n{''.join(output)[-3000:]}"
                )
            if found is None and time.monotonic() > deadline:
                pytest.fail(f"no URL within {START_TIMEOUT} s:\n{''.join(output)[-3000:]}")
            time.sleep(0.25)
        lab = Lab(found.group(1), found.group(2), output)
        lab.get_json("api/status")  # the URL answers
        yield lab
    finally:
        survivors = _stop(process)
        reader.join(timeout=10)
    assert not survivors, f"processes left running: {survivors}"


@pytest.fixture(scope="module")
def lessons(repo: Path) -> list[str]:
    """Stems of the lessons ``autograder build-lessons`` builds (the same glob)."""
    stems = sorted(path.stem for path in (repo / "lessons").glob("[0-9][0-9]-*.md"))
    assert stems, "lessons/ holds no NN-title.md lesson"
    return stems


@pytest.fixture(scope="module")
def learner_lab(
    repo: Path, lessons: list[str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Lab]:
    """``make lab`` on a port the system picks, stopped (with everything it started) at the end."""
    stamp = repo / ".venv" / ".installed"
    if not stamp.is_file():
        pytest.fail(f"{stamp} is missing: run `make test` once, so this test need not install")
    env = _environment(tmp_path_factory.mktemp("learner-home"))
    # -o: never reinstall the venv here, even when pyproject.toml is newer than the stamp.
    command = ["make", "--no-print-directory", "-o", ".venv/.installed", "lab", "PORT=0"]
    with _serve(command, repo, env) as lab:
        yield lab


def test_learner_page_config_decides_every_nbgrader_plugin(repo: Path) -> None:
    """Every plugin the installed nbgrader lab extension ships is switched off for learners or
    kept on purpose: a plugin added by a newer nbgrader fails here until it is decided."""
    static = repo / ".venv" / "share" / "jupyter" / "labextensions" / "@jupyter" / "nbgrader"
    bundles = sorted((static / "static").glob("*.js"))
    assert bundles, f"no nbgrader lab extension under {static}"
    shipped = {
        match.group(0).strip('"')
        for bundle in bundles
        for match in re.finditer(r'"@jupyter/nbgrader:[a-z-]+"', bundle.read_text("utf-8"))
    }
    assert shipped == set(INSTRUCTOR_PLUGINS) | set(LEARNER_PLUGINS), sorted(shipped)
    config = repo / "config" / "learner-lab" / "labconfig" / "page_config.json"
    decided = json.loads(config.read_text(encoding="utf-8"))["disabledExtensions"]
    assert decided == {
        **dict.fromkeys(INSTRUCTOR_PLUGINS, True), **dict.fromkeys(LEARNER_PLUGINS, False)
    }


def test_make_lab_starts_as_root_and_as_any_other_user(repo: Path) -> None:
    dry_run = subprocess.run(
        ["make", "--no-print-directory", "-n", "-o", ".venv/.installed", "lab"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # JupyterLab refuses root without --allow-root; everyone else runs without it.
    assert ("--allow-root" in dry_run) == (os.geteuid() == 0), dry_run


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the other make lab tests run as this account")
def test_make_lab_serves_the_lessons_to_an_account_that_is_not_root(
    repo: Path, lessons: list[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Run as root, the other tests take the --allow-root path; this one runs ``make lab`` for
    real as uid 1000. A user namespace gives that uid while files are still opened as their
    owner opens them, so the Python installation (often under /root) stays readable."""
    env = _environment(tmp_path_factory.mktemp("account-home"))
    command = ["unshare", "--user", "--map-user=1000", "--map-group=1000",
               "make", "--no-print-directory", "-o", ".venv/.installed", "lab", "PORT=0"]
    with _serve(command, repo, env) as lab:
        assert "--allow-root" not in "".join(lab.output)
        listing = lab.get_json("api/contents")
        served = {item["name"] for item in listing["content"]}
        assert {f"{stem}.ipynb" for stem in lessons} <= served, sorted(served)
        assert set(INSTRUCTOR_PLUGINS) <= set(lab.page_config()["disabledExtensions"])


@pytest.mark.slow
def test_make_lab_serves_every_lesson(learner_lab: Lab, lessons: list[str]) -> None:
    listing = learner_lab.get_json("api/contents")
    served = {item["name"]: item["type"] for item in listing["content"]}
    missing = [f"{stem}.ipynb" for stem in lessons if served.get(f"{stem}.ipynb") != "notebook"]
    assert not missing, f"not served as notebooks: {missing}; served: {sorted(served)}"
    for stem in lessons:
        notebook = learner_lab.get_json(f"api/contents/{stem}.ipynb?content=1")
        assert notebook["content"]["cells"], f"{stem}.ipynb is served empty"
        assert notebook["content"]["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.slow
def test_make_lab_serves_the_widgets_and_nbgrader_learner_tools(learner_lab: Lab) -> None:
    import nbgrader

    installed = {ext["name"]: ext for ext in learner_lab.get_json("lab/api/extensions")}
    for name in EXTENSIONS:
        assert name in installed, f"{name} is not among {sorted(installed)}"
        assert installed[name]["enabled"] and installed[name]["status"] == "ok", installed[name]
    page = learner_lab.page_config()
    assert set(EXTENSIONS) <= {ext["name"] for ext in page["federated_extensions"]}
    assert not set(LEARNER_PLUGINS) & set(page["disabledExtensions"])
    # nbgrader's assignment-list server extension answers for the learner's Assignments tab.
    version = learner_lab.get_json(f"nbgrader_version?version={nbgrader.__version__}")
    assert version["success"] is True


@pytest.mark.slow
def test_make_lab_leaves_nbgrader_instructor_tools_out(learner_lab: Lab) -> None:
    disabled = set(learner_lab.page_config()["disabledExtensions"])
    assert set(INSTRUCTOR_PLUGINS) <= disabled, sorted(disabled)
    for endpoint in INSTRUCTOR_ENDPOINTS:
        status, _ = learner_lab.get(endpoint)
        assert status == 404, f"/{endpoint} answered {status} in the learner's JupyterLab"


@pytest.mark.slow
def test_jupyter_lab_in_a_course_folder_keeps_formgrader(
    repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    course = tmp_path_factory.mktemp("course")
    (course / "nbgrader_config.py").write_text(
        'c = get_config()  # noqa: F821\nc.CourseDirectory.course_id = "keras-classroom"\n',
        encoding="utf-8",
    )
    command = [str(repo / ".venv" / "bin" / "jupyter"), "lab", "--no-browser", "--port=0"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    env = _environment(tmp_path_factory.mktemp("instructor-home"))
    with _serve(command, course, env) as lab:
        disabled = set(lab.page_config()["disabledExtensions"])
        assert not set(INSTRUCTOR_PLUGINS) & disabled, sorted(disabled)
        status, body = lab.get("formgrader")
        assert status == 200 and b"formgrader" in body.lower(), (status, body[:300])


def test_building_the_lessons_again_keeps_a_learners_notebook(repo: Path, tmp_path: Path) -> None:
    from autograder.cli import main

    lessons, out = tmp_path / "lessons", tmp_path / "out"
    lessons.mkdir()
    source = lessons / "01-keras-sequential-api.md"
    shutil.copy(repo / "lessons" / source.name, source)
    assert main(["build-lessons", str(lessons), str(out)]) == 0
    notebook = out / "01-keras-sequential-api.ipynb"
    work = notebook.read_text(encoding="utf-8").replace("keras", "keras  # my note", 1)
    notebook.write_text(work, encoding="utf-8")  # the learner saves their work

    assert main(["build-lessons", str(lessons), str(out)]) == 0  # `make lab` the next day
    assert notebook.read_text(encoding="utf-8") == work

    os.utime(source, (time.time() + 5, time.time() + 5))  # the course is updated
    assert main(["build-lessons", str(lessons), str(out)]) == 0
    assert "# my note" not in notebook.read_text(encoding="utf-8")
    assert (out / "previous" / notebook.name).read_text(encoding="utf-8") == work

    assert main(["build-lessons", str(lessons), str(out), "--force"]) == 0
    assert "# my note" not in notebook.read_text(encoding="utf-8")
