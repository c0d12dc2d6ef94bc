"""The course on a real JupyterHub: release, fetch, submit, grade, feedback, as separate users.

The hub runs ``deploy/jupyterhub/jupyterhub_config.py`` as root with the proxy from npm
(``tests/browser``) and real Unix accounts: a grader (the formgrader service's account), an
instructor and three learners. Learners work only through their own servers' nbgrader API
(``/assignments``, ``/assignments/fetch``, ``/submit``, ``/fetch_feedback``) with their own
tokens; the grader collects, runs ``autograder grade``, and releases feedback through the
exchange. The same notebooks graded without the hub give the scores to compare.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import _hub
from tests._grading_course import (
    ASSIGNMENT,
    NOTEBOOK,
    POINTS,
    REFERENCE,
    SHAPE,
    build_course,
    course_env,
    gradebook_scores,
    plant,
)

pytestmark = [
    pytest.mark.nbgrader,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: it creates Unix accounts and "
                       "the hub starts each user's server as that account (CI runs as root)"),
    pytest.mark.skipif(shutil.which("useradd") is None, reason="needs useradd and userdel"),
]
COURSE = "grading-test"  # the course id build_course writes
ARGS = {"course_id": COURSE, "assignment_id": ASSIGNMENT}


@dataclass
class RoundTrip:
    """What the round trip observed.

    Attributes:
        hub: The hub and its accounts.
        listed: Each learner's assignment list before fetching.
        submitted: Each learner's answer to their own submit call.
        feedback: Each learner's fetched feedback files (name -> bytes).
        released_feedback: The grader's feedback of each learner (generate_feedback's HTML).
        hub_scores: Gradebook scores of the course graded on the hub.
        plain_scores: Scores of the same notebooks graded without the hub.
        forged: Exit status and output of ``nbgrader submit --student <ref learner>`` from
            another learner's account, with the learner's config and with a config of their own.
        collected: What the grader's ``nbgrader collect`` printed.
        peer_access: Outcome of a learner's attempts on others' parts of the exchange.
        cross_server: Status codes of one learner's token on another learner's server.
        formgrader: Status code of the formgrader service per user.
    """

    hub: _hub.Hub
    listed: dict[str, dict] = field(default_factory=dict)
    submitted: dict[str, dict] = field(default_factory=dict)
    feedback: dict[str, dict[str, bytes]] = field(default_factory=dict)
    released_feedback: dict[str, bytes] = field(default_factory=dict)
    hub_scores: dict[str, dict[str, float]] = field(default_factory=dict)
    plain_scores: dict[str, dict[str, float]] = field(default_factory=dict)
    forged: dict[str, tuple[int, str]] = field(default_factory=dict)
    collected: str = ""
    peer_access: dict[str, str] = field(default_factory=dict)
    cross_server: dict[str, int] = field(default_factory=dict)
    formgrader: dict[str, int] = field(default_factory=dict)


# A learner's attempts on the exchange, as that learner's account: list the submissions and
# the feedback of everyone (both folders are write- or traverse-only), read a peer's home.
PEEK = """\
import json, os, sys
exchange, peer_home = sys.argv[1], sys.argv[2]
outcome = {}
for name, path in {"inbound": exchange + "/inbound", "feedback": exchange + "/feedback",
                   "peer_home": peer_home}.items():
    try:
        outcome[name] = "listed %d" % len(os.listdir(path))
    except OSError as error:
        outcome[name] = type(error).__name__
print(json.dumps(outcome))
"""


def _grader(hub: _hub.Hub, *args: str) -> str:
    """Run a command as the grader account in the course folder; return its output."""
    done = hub.run_as(hub.grader, list(args), hub.course, hub.environment())
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def _learner_call(hub: _hub.Hub, user: str, action: str) -> dict:
    """POST one action (fetch, submit, fetch_feedback) of a learner's Assignment List API."""
    response = hub.api(user, "POST", f"/user/{user}/assignments/{action}", data=ARGS)
    assert response.status_code == 200, f"{user} {action}: {response.status_code} {response.text}"
    return response.json()


def _answer(hub: _hub.Hub, user: str, notebook: Path) -> None:
    """Save a notebook over the learner's fetched copy, through the learner's contents API."""
    path = f"{COURSE}/{ASSIGNMENT}/{NOTEBOOK}.ipynb"
    body = {"type": "notebook", "format": "json",
            "content": json.loads(notebook.read_text(encoding="utf-8"))}
    saved = hub.api(user, "PUT", f"/user/{user}/api/contents/{path}", json=body)
    assert saved.status_code in (200, 201), f"{user}: {saved.status_code} {saved.text}"


def _grade_plain(course: Path, answers: dict[str, dict[str, str]]) -> subprocess.Popen:
    """Plant the same notebooks in a course of their own and start grading them off the hub."""
    for student, student_answers in answers.items():
        plant(course, student, student_answers)
    return subprocess.Popen(
        [str(_hub.BIN / "autograder"), "grade", str(course), ASSIGNMENT, "--workers", "1",
         "--timeout", "300"], env=course_env(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)


def _on_hub(trip: RoundTrip) -> None:
    """Release, fetch, submit, collect, grade and return feedback on the hub."""
    hub = trip.hub
    ref, _, forger = hub.learners
    # The instructor built it; the grader account owns it from now on, as on a real hub.
    subprocess.run(["chown", "-R", f"{hub.grader.pw_uid}:{hub.grader.pw_gid}", str(hub.course)],
                   check=True)
    hub.start()
    # All at once, as a class logging in at the start of a lesson.
    for user in hub.learners:
        hub.api(user, "POST", f"/hub/api/users/{user}/server")
    for user in hub.learners:
        hub.start_server(user)

    _grader(hub, str(_hub.BIN / "nbgrader"), "release_assignment", ASSIGNMENT, "--force")
    notebooks = {student: hub.base / "plain" / "submitted" / student / ASSIGNMENT
                 / f"{NOTEBOOK}.ipynb" for student in hub.learners}
    for user in hub.learners:
        listing = hub.api(user, "GET", f"/user/{user}/assignments", params={"course_id": COURSE})
        assert listing.status_code == 200, listing.text
        trip.listed[user] = listing.json()
        _learner_call(hub, user, "fetch")
        _answer(hub, user, notebooks[user])
        trip.submitted[user] = _learner_call(hub, user, "submit")

    # From the forger's own account (a terminal of their server), submissions that name the
    # reference learner: the forger's own notebook (1 point), newer than the real one. With
    # the learner's config the hub's groups refuse it; a learner may drop that config (it is
    # theirs), and then only the grader's collect stands between them and the grade.
    forger_account = pwd.getpwnam(forger)
    terminal = {**hub.environment(), "JUPYTERHUB_API_URL": hub.api_url,
                "JUPYTERHUB_USER": forger, "JUPYTERHUB_API_TOKEN": hub.tokens[forger]}
    submit = [str(_hub.BIN / "nbgrader"), "submit", ASSIGNMENT, "--course", COURSE,
              f"--student={ref}"]
    for name, config in (("learner config", _learner_config()),
                         ("own config", [str(_hub.CONFIG.parent / "nbgrader" / "exchange")])):
        done = hub.run_as(forger_account, submit, Path(forger_account.pw_dir),
                          {**terminal, "JUPYTER_CONFIG_PATH": os.pathsep.join(config)})
        trip.forged[name] = (done.returncode, done.stdout + done.stderr)
    for path in (f"/user/{ref}/api/contents", f"/user/{ref}/assignments?course_id={COURSE}"):
        trip.cross_server[path] = hub.api(forger, "GET", path).status_code
    trip.cross_server["submit"] = hub.api(forger, "POST", f"/user/{ref}/assignments/submit",
                                          data=ARGS).status_code
    for user in (hub.instructor, ref):
        answer = hub.api(user, "GET", f"/services/{COURSE}/formgrader", allow_redirects=True)
        trip.formgrader[user] = answer.status_code

    trip.collected = _grader(hub, str(_hub.BIN / "nbgrader"), "collect", ASSIGNMENT)
    _grader(hub, str(_hub.BIN / "autograder"), "grade", str(hub.course), ASSIGNMENT,
            "--workers", "1", "--timeout", "300")
    _grader(hub, str(_hub.BIN / "nbgrader"), "generate_feedback", ASSIGNMENT)
    _grader(hub, str(_hub.BIN / "nbgrader"), "release_feedback", ASSIGNMENT)
    for user in hub.learners:
        _learner_call(hub, user, "fetch_feedback")
        home = Path(pwd.getpwnam(user).pw_dir) / COURSE / ASSIGNMENT / "feedback"
        trip.feedback[user] = {str(path.relative_to(home)).split("/", 1)[1]: path.read_bytes()
                               for path in home.rglob("*") if path.is_file()}
        trip.released_feedback[user] = (hub.course / "feedback" / user / ASSIGNMENT
                                        / f"{NOTEBOOK}.html").read_bytes()
    peek = hub.run_as(forger_account, [str(_hub.BIN / "python"), "-c", PEEK,
                                        str(hub.exchange / COURSE),
                                        pwd.getpwnam(ref).pw_dir],
                       Path(forger_account.pw_dir), hub.environment())
    trip.peer_access = json.loads(peek.stdout)

    trip.hub_scores = gradebook_scores(hub.course)


def _run(trip: RoundTrip) -> None:
    """Drive the whole round trip, filling in ``trip``."""
    hub = trip.hub
    ref, untouched, forger = hub.learners
    # Three different notebooks, so that three feedback files differ.
    answers = {ref: REFERENCE, untouched: {}, forger: {"shape_answer": SHAPE}}
    build_course(hub.course)
    plain = _grade_plain(shutil.copytree(hub.course, hub.base / "plain"), answers)
    try:
        _on_hub(trip)
        output, _ = plain.communicate(timeout=900)
    finally:
        # Stopped when the round trip failed before it finished (its course is removed next).
        if plain.poll() is None:
            plain.kill()
            plain.wait()
    assert plain.returncode == 0, output[-3000:]
    trip.plain_scores = gradebook_scores(hub.base / "plain")

def _learner_config() -> list[str]:
    """JUPYTER_CONFIG_PATH of a learner's server, as the deploy config sets it."""
    deploy = _hub.CONFIG.parent
    return [str(_hub.REPO / "config" / "learner-lab"), str(deploy / "nbgrader" / "learner"),
            str(deploy / "nbgrader" / "exchange")]


@pytest.fixture(scope="module")
def trip() -> Iterator[RoundTrip]:
    """Run the round trip once for the module's tests; remove the accounts afterwards."""
    if not _hub.PROXY.exists():
        pytest.fail(f"{_hub.PROXY} is missing: run `npm ci` in tests/browser (.ci/run does)")
    # Every account must traverse this folder; pytest's own temporary folder is root's alone.
    base = Path(tempfile.mkdtemp(prefix="aghub-", dir="/tmp"))
    base.chmod(0o755)
    hub = _hub.new_hub(base, COURSE, learners=3)
    result = RoundTrip(hub)
    try:
        _run(result)
    except BaseException as error:
        log = hub.log_tail()
        _hub.remove_hub(hub)
        raise AssertionError(f"{error}\n--- hub log ---\n{log}") from error
    yield result
    _hub.remove_hub(hub)


def test_each_learner_lists_fetches_and_submits_through_their_own_server(
        trip: RoundTrip) -> None:
    for user in trip.hub.learners:
        released = [(item["course_id"], item["assignment_id"], item["status"])
                    for item in trip.listed[user]["value"]]
        assert released == [(COURSE, ASSIGNMENT, "released")], user
        statuses = {item["status"] for item in trip.submitted[user]["value"]}
        assert "submitted" in statuses, (user, trip.submitted[user])


def test_scores_on_the_hub_equal_scores_without_it(trip: RoundTrip) -> None:
    ref, untouched, forger = trip.hub.learners
    assert trip.hub_scores == trip.plain_scores
    assert trip.hub_scores[ref] == POINTS
    assert sum(trip.hub_scores[untouched].values()) == 0


def test_a_submission_claiming_another_learner_is_refused(trip: RoundTrip) -> None:
    ref, _, forger = trip.hub.learners
    # The hub's groups refuse it; submitted without them, the grader's collect refuses it, so
    # the reference learner keeps their own full score, not the forger's notebook's one point.
    status, output = trip.forged["learner config"]
    assert status != 0 and f"Not able to get Jupyterhub user: {ref}" in output, output
    status, output = trip.forged["own config"]
    assert status == 0, output
    assert "Refused" in trip.collected and f"owned by {forger}" in trip.collected, \
        trip.collected
    assert trip.hub_scores[ref] == POINTS
    assert set(trip.hub_scores) == set(trip.hub.learners)


def test_a_learners_token_cannot_act_on_another_learners_server(trip: RoundTrip) -> None:
    assert trip.cross_server and all(status == 403 for status in trip.cross_server.values()), \
        trip.cross_server


def test_a_learner_cannot_list_others_submissions_feedback_or_home(trip: RoundTrip) -> None:
    assert trip.peer_access == {"inbound": "PermissionError", "feedback": "PermissionError",
                                "peer_home": "PermissionError"}


def test_each_learner_fetches_exactly_their_own_feedback(trip: RoundTrip) -> None:
    released = trip.released_feedback
    assert len(set(released.values())) == len(released)
    for user in trip.hub.learners:
        assert list(trip.feedback[user]) == [f"{NOTEBOOK}.html"], (user, list(trip.feedback[user]))
        assert trip.feedback[user][f"{NOTEBOOK}.html"] == released[user], user


def test_only_the_courses_instructors_reach_its_formgrader(trip: RoundTrip) -> None:
    ref = trip.hub.learners[0]
    assert trip.formgrader[trip.hub.instructor] == 200, trip.formgrader
    assert trip.formgrader[ref] == 403, trip.formgrader
