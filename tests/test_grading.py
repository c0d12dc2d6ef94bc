"""``autograder grade``: exports, verification outside the kernel, the gradebook, the command line.

Fast tests use real files and real Keras models without nbgrader; the course tests use the
shared fixture course graded once by the real ``autograder grade`` command.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _grading_course import (
    ASSIGNMENT,
    NOTEBOOK,
    GradedCourse,
    gradebook_scores,
    manifest,
    results,
    shared_graded_course,
)

from autograder import export
from autograder.grading.manifest import CheckSpec, Manifest, ManifestError, answer_task, checks_task
from autograder.grading.manifest import load as load_manifest
from autograder.grading.verify import same_answer, verify_submission
from solutions import MODULES


class AlwaysEqual:
    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__


class SneakyInt(int):
    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = int.__hash__


@pytest.fixture()
def exports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "exports"
    monkeypatch.setenv(export.ENV_VAR, str(folder))
    return folder


# --------------------------------------------------------------------------- export and verify


@pytest.mark.parametrize(("value", "plain"), [
    ((None, 10), [None, 10]),
    ([1, 2.5, "a", True], [1, 2.5, "a", True]),
    (np.int64(7), 7),
    (np.float32(0.5), 0.5),
])
def test_plain_values_cross_the_boundary(value: object, plain: object) -> None:
    assert export.plain(value) == plain


@pytest.mark.parametrize("value", [AlwaysEqual(), SneakyInt(3), [1, AlwaysEqual()],
                                   {"a": 1}, float("nan"), type("MyList", (list,), {})([1])])
def test_objects_that_are_not_plain_data_are_rejected(value: object) -> None:
    with pytest.raises(export.Rejected):
        export.plain(value)


def test_exports_do_nothing_outside_grading(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(export.ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    export.answer("x", 1)
    assert list(tmp_path.iterdir()) == []


def test_answers_are_verified_by_type_and_value(exports: Path) -> None:
    task = answer_task("nb", "q", "flag", 1, True)
    tasks = Manifest("a", (task, answer_task("nb", "shape", "shape", 2, (None, 10))))
    export.answer("flag", 1)  # 1 == True in Python, but it is not the answer True
    export.answer("shape", (None, 10))
    verdicts = {v.grade_id: v for v in verify_submission(tasks, exports)}
    assert verdicts["q"].score == 0.0 and verdicts["q"].outcome == "failed"
    assert verdicts["shape"].score == 2.0 and verdicts["shape"].answer == [None, 10]


def test_rigged_answer_is_recorded_as_rejected_and_scores_zero(exports: Path) -> None:
    export.answer("loss", AlwaysEqual())
    verdict = verify_submission(
        Manifest("a", (answer_task("nb", "q", "loss", 1, "mse"),)), exports)[0]
    assert verdict.score == 0.0
    assert "not plain data" in verdict.message and "AlwaysEqual" in verdict.message


def test_missing_export_is_not_attempted(tmp_path: Path) -> None:
    verdict = verify_submission(
        Manifest("a", (answer_task("nb", "q", "loss", 1, "mse"),)), tmp_path / "none")[0]
    assert (verdict.outcome, verdict.score) == ("not attempted", 0.0)


def test_symlinked_export_is_ignored(exports: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps({"value": "mse"}))
    exports.mkdir()
    (exports / "answer-loss.json").symlink_to(target)
    verdict = verify_submission(
        Manifest("a", (answer_task("nb", "q", "loss", 1, "mse"),)), exports)[0]
    assert verdict.score == 0.0


@pytest.mark.parametrize(("given", "expected", "options", "match"), [
    (0.301, 0.3, {"tolerance": 0.01}, True),
    (0.35, 0.3, {"tolerance": 0.01}, False),
    (" Softmax ", "softmax", {"casefold": True}, True),
    ("Softmax", "softmax", {}, False),
    ([None, 10], [None, 10], {}, True),
    ([None, 10, 1], [None, 10], {}, False),
    ("10", 10, {}, False),
])
def test_same_answer(given: object, expected: object, options: dict, match: bool) -> None:
    assert same_answer(given, expected, **options) is match


def _tiny_model(*layers: object) -> object:
    import keras

    model = keras.Sequential([keras.Input(shape=(4,)), *layers,
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def test_model_export_is_loaded_safely_or_evaluated_apart_and_checked(exports: Path) -> None:
    import keras

    export.model("net", _tiny_model())
    export.model("lam", _tiny_model(keras.layers.Lambda(lambda t: t * 2)))
    spec = CheckSpec("check_model", ("@net",), {"input_shape": [4], "num_classes": 3})
    lam = CheckSpec("check_model", ("@lam",), {"input_shape": [4], "num_classes": 3})
    tasks = Manifest("a", (checks_task("nb", "m", "net", 2, [spec]),
                           checks_task("nb", "l", "lam", 2, [lam])))
    verdicts = {v.grade_id: v for v in verify_submission(tasks, exports)}
    assert verdicts["m"].score == 2.0, verdicts["m"].message
    # The Lambda's code never runs here: the model runs in a confined evaluator of its own and
    # earns its points on its predictions (tests/test_evaluate.py).
    assert verdicts["l"].score == 2.0, verdicts["l"].message


def test_not_a_model_is_recorded(exports: Path) -> None:
    export.model("net", "a string")
    spec = CheckSpec("check_model", ("@net",), {"input_shape": [4], "num_classes": 3})
    verdict = verify_submission(Manifest("a", (checks_task("nb", "m", "net", 1, [spec]),)),
                                exports)[0]
    assert verdict.score == 0.0 and "not a Keras model" in verdict.message


def test_split_and_scaler_are_verified_from_arrays(exports: Path) -> None:
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3))
    x_train, x_test = x[:80], x[80:]
    export.arrays("split", x_train=x_train, x_test=x_test)
    export.scaler("good", StandardScaler().fit(x_train))
    export.scaler("leaky", StandardScaler().fit(x))
    tasks = Manifest("a", tuple(
        checks_task("nb", name, name, 1, [CheckSpec(
            "check_split", ("@split.x_train", "@split.x_test"), {"scaler": f"@{name}"})])
        for name in ("good", "leaky")))
    verdicts = {v.grade_id: v for v in verify_submission(tasks, exports)}
    assert verdicts["good"].score == 1.0, verdicts["good"].message
    assert verdicts["leaky"].score == 0.0


# --------------------------------------------------------------------------- manifest


def test_manifest_round_trip(tmp_path: Path) -> None:
    written = manifest().write(tmp_path)
    assert written == tmp_path / "grader" / f"{ASSIGNMENT}.json"
    assert load_manifest(tmp_path, ASSIGNMENT) == manifest()


def test_manifest_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="No grading manifest at"):
        load_manifest(tmp_path, "a9")
    (tmp_path / "grader").mkdir()
    (tmp_path / "grader" / "a9.json").write_text('{"schema_version": 1, "tasks": [')
    with pytest.raises(ManifestError, match=r"a9\.json, line 1"):
        load_manifest(tmp_path, "a9")
    with pytest.raises(ManifestError, match="unknown check"):
        Manifest("a", (checks_task("nb", "g", "m", 1, [CheckSpec("check_magic")]),))
    with pytest.raises(ManifestError, match="not among the choices"):
        Manifest("a", (answer_task("nb", "g", "m", 1, "z", choices=["a", "b"]),))


# --------------------------------------------------------------------------- the gradebook


def _write_grades(db_url: str, student: str, scores: dict[str, float], barrier: object) -> None:
    from autograder.grading import record_grades
    from autograder.grading.verify import Verdict

    verdicts = [Verdict(NOTEBOOK, grade_id, grade_id, 2.0, score, "passed", "")
                for grade_id, score in scores.items()]
    barrier.wait()  # every writer starts at the same moment
    record_grades(db_url, ASSIGNMENT, student, verdicts, course="grading-test")


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory: pytest.TempPathFactory) -> GradedCourse:
    """The fixture course, every planted submission graded once by `autograder grade`."""
    return shared_graded_course(tmp_path_factory)


@pytest.mark.nbgrader
@pytest.mark.slow
@pytest.mark.xdist_group("grading")
def test_sixteen_graders_on_one_sqlite_gradebook_lose_no_grade(
        graded_course: GradedCourse, tmp_path: Path) -> None:
    from nbgrader.api import Gradebook

    from autograder.grading import gradebook_url

    shutil.copy(graded_course.path / "gradebook.db", tmp_path / "gradebook.db")
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    db_url = gradebook_url(tmp_path)
    assert db_url.endswith("?timeout=60")
    writers = 16
    expected = {f"load{i:02d}": {"shape_test": i / 16, "loss_test": 1.0, "model_test": i / 8}
                for i in range(writers)}
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(writers)
    procs = [context.Process(target=_write_grades, args=(db_url, student, scores, barrier))
             for student, scores in expected.items()]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=300)
    assert [proc.exitcode for proc in procs] == [0] * writers
    with Gradebook(db_url, "grading-test") as gradebook:
        found = {
            sub.student.id: {g.name: g.auto_score for g in sub.notebooks[0].grades}
            for sub in gradebook.find_assignment(ASSIGNMENT).submissions
            if sub.student.id.startswith("load")}
    assert found == expected


@pytest.mark.nbgrader
@pytest.mark.slow
@pytest.mark.xdist_group("grading")
def test_gradebook_holds_verified_scores(graded_course: GradedCourse) -> None:
    scores = gradebook_scores(graded_course.path)
    assert scores["ref"] == {"shape_test": 1.0, "loss_test": 1.0, "model_test": 2.0}
    assert scores["empty"] == {"shape_test": 0.0, "loss_test": 0.0, "model_test": 0.0}
    assert scores["half"] == {"shape_test": 1.0, "loss_test": 0.0, "model_test": 0.0}
    ref = results(graded_course.path)["ref"]
    assert ref["reason"] is None and not any(task["disagrees"] for task in ref["tasks"])
    # The peak is sampled (see ProcessTree.memory); a kernel that trained a Keras model owns
    # well over 50 MB of its own, and one that was never measured would show 0.
    assert ref["peak_kernel_mb"] > 50


@pytest.mark.nbgrader
@pytest.mark.slow
@pytest.mark.xdist_group("grading")
def test_parallel_kernels_get_their_share_of_the_cores(graded_course: GradedCourse) -> None:
    # The "threads" submission answers right only when its kernel saw the thread settings.
    assert gradebook_scores(graded_course.path)["threads"]["shape_test"] == 1.0


@pytest.mark.parametrize(("workers", "cores", "share"), [(2, 2, "1"), (2, 8, "4"), (3, 8, "2"),
                                                          (4, 2, "1")])
def test_thread_share_divides_the_cores(workers: int, cores: int, share: str) -> None:
    from autograder.grading import THREAD_ENV_VARS, thread_env

    assert thread_env(workers, cores) == dict.fromkeys(THREAD_ENV_VARS, share)


def test_a_single_worker_keeps_tensorflow_defaults() -> None:
    from autograder.grading import thread_env

    assert thread_env(1, 8) == {}


@pytest.mark.nbgrader
@pytest.mark.slow
@pytest.mark.xdist_group("grading")
def test_generate_feedback_shows_verified_scores(graded_course: GradedCourse) -> None:
    from _grading_course import nbgrader

    nbgrader(graded_course.path, "generate_feedback", ASSIGNMENT, "--student", "always_equal",
             "--force")
    html = (graded_course.path / "feedback" / "always_equal" / ASSIGNMENT
            / f"{NOTEBOOK}.html").read_text()
    # The kernel-side asserts passed, but the feedback reports the verified total.
    assert "Score: 0.0 / 4.0" in html


def _autograder(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "autograder"), *args],
                          capture_output=True, text=True, env={**os.environ}, check=False)


def test_grade_refuses_a_directory_that_is_not_a_course(tmp_path: Path) -> None:
    done = _autograder("grade", str(tmp_path), "a1")
    assert done.returncode == 2
    assert "nbgrader course directory" in done.stderr and "Traceback" not in done.stderr


def test_grade_without_manifest_says_how_to_make_one(tmp_path: Path) -> None:
    (tmp_path / "source" / "a1").mkdir(parents=True)
    (tmp_path / "submitted" / "s1" / "a1").mkdir(parents=True)
    done = _autograder("grade", str(tmp_path), "a1", "--workers", "1")
    assert done.returncode == 2
    assert "No grading manifest" in done.stderr and "Traceback" not in done.stderr


def test_quiz_questions_judge_exported_answers_like_the_quiz(exports: Path) -> None:
    from autograder.grading.manifest import question_from_data, question_to_data
    from autograder.schema import Choice, Mistake, OutputShape, SingleChoice

    choice = SingleChoice(id="loss", prompt="Which loss?", hints=(), solution="", choices=(
        Choice("mse", "That is a regression loss."),
        Choice("sparse_categorical_crossentropy", "", correct=True)))
    shape = OutputShape(id="shape", prompt="Shape?", hints=(), solution="", answer=(None, 10),
                        mistakes=(Mistake((10,), "Keep the batch dimension."),))
    assert question_from_data(question_to_data(shape)).answer == (None, 10)
    tasks = Manifest("a", (answer_task("nb", "loss", "loss", 1, None, question=choice),
                           answer_task("nb", "shape", "shape", 1, None, question=shape)))
    assert tasks.tasks[0].is_multiple_choice
    export.answer("loss", "mse")
    export.answer("shape", "(None, 10)")  # the quiz accepts a shape written as text
    verdicts = {v.grade_id: v for v in verify_submission(tasks, exports)}
    assert verdicts["loss"].score == 0.0 and "regression loss" in verdicts["loss"].message
    assert verdicts["shape"].score == 1.0, verdicts["shape"].message


def test_manifest_is_derived_from_an_assignment_definition(exports: Path) -> None:
    from autograder.grading.manifest import Export, Verified, manifest_for, quiz_export_code
    from autograder.render.nbgrader_source import Assignment, QuizAnswer
    from autograder.schema import Choice, SingleChoice

    question = SingleChoice(id="act", prompt="Which activation?", hints=(), solution="",
                            choices=(Choice("softmax", ""), Choice("sigmoid", "", correct=True)))
    assignment = Assignment("a9", "Title", "Intro", (QuizAnswer("act", question, "sigmoid"),))
    built = manifest_for(assignment)
    assert [(t.grade_id, t.name, t.kind) for t in built.tasks] == [("act-test", "act", "answer")]
    # The grade-cell lines the course puts in front of the kernel-side check really export.
    act = "sigmoid"
    exec(quiz_export_code("act"), {"act": act})  # noqa: S102 - our own generated source
    assert verify_submission(built, exports)[0].score == 1.0
    verified = Verified((Export("model", "net", "build()"),),
                        (CheckSpec("check_model", ("@net",), {}),))
    code = verified.export_code()
    assert "    autograder.export.model('net', build())" in code.splitlines()
    exec(code, {})  # noqa: S102 - `build` is undefined: the export is skipped, nothing raises


def test_reported_figure_is_recomputed_by_the_grader_on_scaled_data(exports: Path) -> None:
    import keras
    from sklearn.preprocessing import StandardScaler

    from autograder import check_metrics, data

    split = data.load("breast_cancer")
    scaler = StandardScaler().fit(split.x_train)
    model = keras.Sequential([keras.Input(shape=(30,)),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(scaler.transform(split.x_train), split.y_train, epochs=3, verbose=0)
    actual = check_metrics(model, scaler.transform(split.x_test), split.y_test).metrics["recall"]
    export.model("model", model)
    export.scaler("scaler", scaler)
    export.answer("good", float(actual))
    export.answer("bad", float(actual) - 0.2)
    tasks = Manifest("a", tuple(
        checks_task("nb", name, name, 1, [CheckSpec(
            "check_figures",
            ("@model", "@dataset:breast_cancer.x_test|scaler", "@dataset:breast_cancer.y_test"),
            {"threshold": 0.5, "recall": f"@{name}"})])
        for name in ("good", "bad")))
    verdicts = {v.grade_id: v for v in verify_submission(tasks, exports)}
    assert verdicts["good"].score == 1.0, verdicts["good"].message
    assert verdicts["bad"].score == 0.0 and "computed from your model" in verdicts["bad"].message


# --------------------------------------------------------------------------- the real course

RIGGED_MODULES = '''\
import sys, types
import autograder.schema  # the hidden tests import it; keep the real one

class _Passed:
    passed = True
    def assert_passed(self):
        return self

def _fake(name, **attributes):
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    sys.modules[name] = module
    return module

_checks = lambda *args, **kwargs: _Passed()
_fake("autograder.export", answer=_checks, model=_checks, arrays=_checks, scaler=_checks)
_fake("autograder.checks.answers", check_answer=_checks)
_fake("autograder.choices", judge_choice=_checks)
_fake("autograder.checks.attempted", require=lambda *args, **kwargs: None)
_fake("autograder.checks", answers=sys.modules["autograder.checks.answers"],
      attempted=sys.modules["autograder.checks.attempted"])
autograder = _fake("autograder", check_model=_checks, check_metrics=_checks,
                   check_split=_checks, show_choices=_checks, read_choice=_checks,
                   export=sys.modules["autograder.export"],
                   checks=sys.modules["autograder.checks"], schema=autograder.schema)
'''


@pytest.fixture(scope="module")
def built_course(tmp_path_factory: pytest.TempPathFactory) -> object:
    """The real course from `autograder build-course`, every assignment generated."""
    from _grading_course import nbgrader

    from autograder.course import build_course

    layout = build_course(tmp_path_factory.mktemp("built") / "course")
    for name in layout.assignments:
        nbgrader(layout.root, "generate_assignment", name, "--force")
    return layout


def _rig(release: Path, target: Path) -> None:
    """Plant a submission whose answers are all wrong but whose kernel checks are all faked."""
    import nbformat

    rigged = nbformat.read(release, as_version=4)
    solution_cells = [cell for cell in rigged.cells
                      if cell.metadata.get("nbgrader", {}).get("solution")]
    for cell in solution_cells:
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        cell.source = (f"{grade_id.removesuffix('-answer')} = 'not the answer'"
                       if grade_id.endswith("-answer")
                       else "def build_compiled_model():\n    return None")
    solution_cells[0].source = RIGGED_MODULES + solution_cells[0].source
    nbformat.write(rigged, target)


@pytest.mark.nbgrader
@pytest.mark.slow
# Its own group: it shares no fixture with the planted course, so xdist may run it alongside.
@pytest.mark.xdist_group("grading-course")
@pytest.mark.parametrize("index", range(len(MODULES)))
def test_built_course_is_verified_by_autograder_grade(built_course: object, index: int) -> None:
    from _grading_course import course_env

    from autograder.grading import load_results

    layout = built_course
    name = layout.assignments[index]
    manifest = load_manifest(layout.root, name)
    for student in ("ref", "empty", "rigged"):
        layout.submitted(student, name).parent.mkdir(parents=True)
    # The reference: the instructor's source notebook, solutions included.
    shutil.copy(layout.notebooks[name], layout.submitted("ref", name))
    shutil.copy(layout.release(name), layout.submitted("empty", name))
    _rig(layout.release(name), layout.submitted("rigged", name))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "autograder"), "grade", str(layout.root), name,
         "--workers", "1"], capture_output=True, text=True, env=course_env(), check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    found = {result["student"]: result for result in load_results(layout.root, name)}
    total = sum(task.points for task in manifest.tasks)
    # Every grade cell of the course is re-checked outside the kernel ...
    assert {task.kind for task in manifest.tasks} <= {"answer", "checks"} and total > 0
    # ... the reference earns every point there, and the kernel agrees ...
    assert found["ref"]["score"] == total, found["ref"]
    assert not any(task["disagrees"] for task in found["ref"]["tasks"]), found["ref"]
    # ... and faked kernel-side checks earn nothing.
    assert found["empty"]["score"] == 0.0
    assert found["rigged"]["score"] == 0.0
    if name.startswith("a1"):
        kernel = sum(task["kernel_score"] or 0.0 for task in found["rigged"]["tasks"])
        assert kernel == total  # the rigged modules fooled every kernel-side check ...
        assert all(task["disagrees"] for task in found["rigged"]["tasks"])  # ... and it shows


def test_default_time_limit_follows_the_reference_run_time(tmp_path: Path) -> None:
    from autograder.grading.layout import CourseLayout
    from autograder.grading.pool import (
        DEFAULT_TIMEOUT,
        TIMEOUT_FACTOR,
        TIMEOUT_FLOOR,
        default_timeout,
    )

    layout = CourseLayout(tmp_path)
    assert default_timeout(layout, "a1") == DEFAULT_TIMEOUT  # never measured
    layout.grader().mkdir()
    timing = layout.grader("a1.timing.json")
    timing.write_text(json.dumps({"reference_seconds": 4.0}))
    assert default_timeout(layout, "a1") == TIMEOUT_FLOOR  # a quick reference: the floor
    timing.write_text(json.dumps({"reference_seconds": 100.0}))
    assert default_timeout(layout, "a1") == TIMEOUT_FACTOR * 100.0
    timing.write_text("not json")
    assert default_timeout(layout, "a1") == DEFAULT_TIMEOUT


@pytest.mark.slow
def test_a_reference_notebook_is_timed_by_running_it(tmp_path: Path) -> None:
    import nbformat

    from autograder.course import time_reference

    notebook = tmp_path / "ref.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import time\ntime.sleep(1.5)")]), notebook)
    seconds = time_reference(notebook)
    assert seconds is not None and 1.5 <= seconds < 120
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("raise ValueError('broken reference')")]), notebook)
    assert time_reference(notebook) is None


def test_the_course_secret_is_made_once_and_kept(tmp_path: Path) -> None:
    from autograder.grading.layout import CourseLayout
    from autograder.grading.pool import read_secret

    layout = CourseLayout(tmp_path)
    first = read_secret(layout)
    assert len(first) >= 32 and read_secret(layout) == first
    assert (layout.secret.stat().st_mode & 0o777) == 0o600


def test_a_notebook_stopped_by_the_cell_time_limit_is_a_timeout() -> None:
    from autograder.grading.worker import failure_reason

    # What nbclient logs when a cell ignored its interrupt and the next one got no output.
    assert failure_reason("[ERROR] Timeout waiting for execute reply (120s).\n"
                          "nbclient.exceptions.CellTimeoutError: A cell timed out while it "
                          "was being executed") == "timeout"
    assert failure_reason("nbclient.exceptions.DeadKernelError: Kernel died") == "kernel died"
    assert failure_reason("KeyError: 'cells'") == "crashed"
