"""The nbgrader course: reference solutions, ``build-course``, and the real nbgrader round trip.

The round trip builds ONE course (a module fixture, so every test here runs on one xdist worker)
and plants submissions for a few students:

- ``reference``: every solution cell holds the reference answer;
- ``noisy``: the reference answers, after code that prints to stderr, turns on every warning and
  DEBUG logging -- grade cells must still score full marks;
- ``blank``: the release notebook untouched;
- ``half``: some answers right, one wrong, the rest untouched;
- ``broken_metric``, ``stuck_callback`` and ``wild_threshold``: the reference answers except one
  task whose code misbehaves at grading time (a metric that raises, a callback that never
  finishes in the grader's check, a threshold outside [0, 1]);
- ``mse_screen``, ``dense_digits``, ``no_eights``, ``zero_based_callback`` and
  ``softmax_tagger``: the reference answers except a shortcut or the typical mistake on some
  tasks (a regression loss, figures at threshold 0.5, no convolution, a digit left out of
  training, epochs counted from 0, a softmax over independent labels, top-2 accuracy as
  precision@2, wrong choices) -- exactly those grade cells earn nothing, with a message naming
  the cause, and every other cell keeps its points.

Then it runs ``nbgrader autograde`` and ``generate_feedback`` and reads scores from the gradebook.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import nbformat
import numpy as np
import pytest
from _options import letter_of
from _verified import export_and_verify, full_marks

from autograder.choices import NAME_CELL_SOURCE, NAME_VARIABLE
from autograder.course import MARKER, CourseDirError, CourseLayout, build_course
from autograder.render.nbgrader_source import (
    BEGIN_HIDDEN,
    BEGIN_SOLUTION,
    END_SOLUTION,
    GradeCell,
    QuizAnswer,
)

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# The direct tests train with the reference settings and the seed of the notebooks' header cell:
# fewer epochs leave MNIST accuracy within a few thousandths of the 0.90 bar. The nbgrader run does
# not lower COURSE_EPOCHS either: the reference training takes seconds, while kernel start and the
# TensorFlow import dominate.


def _seed_like_the_header_cell() -> None:
    import keras

    keras.utils.set_random_seed(0)


A1, A2, A3, A4, A5, A6, A7, A8, A9 = (
    "a1_shapes_and_compile", "a2_mnist_classifier", "a3_imbalanced_fraud", "a4_leaky_pipeline",
    "a5_thresholds", "a6_multiclass_cnn", "a7_custom_metric_callback", "a8_multilabel",
    "a9_overfitting_curves",
)
ALL = (A1, A2, A3, A4, A5, A6, A7, A8, A9)
# Which students hand in which assignment; autograding costs a kernel per pair. `half` answers
# some tasks right, takes a shortcut on another (an extreme threshold, a split that ignores
# repeated records, a metric without state ...) and leaves the rest untouched.
#
# Bad learner code in one task costs that task's points, with a message, and nothing else.
BROKEN = {"broken_metric": (A7,), "stuck_callback": (A7,), "wild_threshold": (A5,)}
# A shortcut (or the typical mistake a task exists to catch) costs exactly its grade cell; each
# student combines the shortcuts of one assignment that do not interfere (see _shortcut_answers).
SHORTCUTS = {"mse_screen": (A5,), "dense_digits": (A6,), "no_eights": (A6,),
             "zero_based_callback": (A7,), "softmax_tagger": (A8,)}
PLAN = {"reference": ALL, "noisy": ALL, "blank": ALL, "half": ALL, **BROKEN, **SHORTCUTS}
NOISE = """\
import logging, sys, warnings
warnings.simplefilter("always")
logging.basicConfig(level=logging.DEBUG, force=True)
logging.getLogger().setLevel(logging.DEBUG)
for _name in ("tensorflow", "keras", "absl"):
    logging.getLogger(_name).setLevel(logging.DEBUG)
print("learner's own debugging output", file=sys.stderr)
warnings.warn("a warning the learner chose to see")
"""


# --------------------------------------------------------------------------- the solutions


def _build(code: str) -> object:
    import keras

    namespace: dict = {"keras": keras}
    exec(code, namespace)
    return namespace["model"]


def test_a1_reference_answers_match_keras() -> None:
    from solutions import a1_shapes_and_compile as a1

    model = _build(a1.CONV_MODEL_CODE)
    conv, _, flatten, dense = model.layers
    assert tuple(conv.output.shape) == a1.conv_output_shape
    assert flatten.output.shape[-1] == a1.flatten_units
    assert tuple(model.output_shape) == a1.output_shape
    assert dense.count_params() == a1.dense_params
    # Weights without biases, across the layers: a figure summary() does not print.
    weights = sum(int(np.prod(layer.kernel.shape)) for layer in (conv, dense))
    assert weights == a1.weight_count != model.count_params()


def test_a1_questions_accept_reference_and_reject_mistakes() -> None:
    from autograder.checks.answers import check_answer
    from solutions import a1_shapes_and_compile as a1

    for part in a1.QUESTIONS:
        assert check_answer(part.question, part.answer).passed, part.variable
        for mistake in getattr(part.question, "mistakes", ()):
            verdict = check_answer(part.question, mistake.answer)
            assert not verdict.passed and mistake.feedback in verdict.message
    loss = next(p.question for p in a1.QUESTIONS if p.variable == "loss_name")
    wrong = check_answer(loss, "categorical_crossentropy")
    assert not wrong.passed and "one-hot" in wrong.message
    assert "sparse_categorical_crossentropy" not in wrong.message


def test_a1_compiled_model_passes_check_model() -> None:
    import autograder
    from solutions import a1_shapes_and_compile as a1

    verdict = autograder.check_model(
        a1.build_compiled_model(), input_shape=(8, 8, 1), num_classes=10, labels="one_hot"
    )
    assert verdict.passed, str(verdict)


@pytest.mark.slow
def test_a2_reference_reaches_accuracy_on_holdout() -> None:
    import autograder
    from autograder import data
    from solutions import a2_mnist_classifier as a2

    _seed_like_the_header_cell()
    mnist = data.load_mnist()
    model = a2.build_model()
    history = a2.train(model, mnist.x_train, mnist.y_train, epochs=a2.EPOCHS)
    # The epochs are chosen on validation images cut from the training split.
    assert len(history.history["val_accuracy"]) == a2.EPOCHS
    holdout = data.load_holdout("mnist")
    verdict = autograder.check_metrics(
        model, holdout.x, holdout.y, min_accuracy=a2.MIN_ACCURACY
    )
    assert verdict.passed, str(verdict)


@pytest.mark.slow
def test_a3_reference_meets_both_targets_with_a_threshold_tuned_on_validation() -> None:
    import autograder
    from autograder import data
    from solutions import a3_imbalanced_fraud as a3

    _seed_like_the_header_cell()
    fraud = data.load_fraud()
    assert float((fraud.y_test == 0).mean()) == pytest.approx(a3.BASELINE_ACCURACY, abs=1e-9)
    x_fit, x_val, y_fit, y_val = a3.split_for_validation(fraud.x_train, fraud.y_train)
    assert not autograder.check_split(x_val, fraud.x_test).metrics["shared_rows"]
    model = a3.train(a3.build_model(), x_fit, y_fit, epochs=a3.EPOCHS)
    threshold = a3.choose_threshold(model, x_val, y_val)
    holdout = data.load_holdout("fraud")
    verdict = autograder.check_metrics(
        model, holdout.x, holdout.y, min_recall=a3.MIN_RECALL,
        min_precision=a3.MIN_PRECISION, threshold=threshold,
    )
    assert verdict.passed, str(verdict)
    # The shortcut the task closes: a threshold near 0 finds every fraud and fails precision.
    flag_all = autograder.check_metrics(
        model, holdout.x, holdout.y, min_recall=a3.MIN_RECALL,
        min_precision=a3.MIN_PRECISION, threshold=1e-6,
    )
    assert flag_all.metrics["recall"] == 1.0 and not flag_all.passed
    precision, recall = a3.report(model, fraud.x_test, fraud.y_test, threshold)
    figures = autograder.check_metrics(
        model, fraud.x_test, fraud.y_test, threshold=threshold
    ).metrics
    assert precision == pytest.approx(figures["precision"], abs=1e-6)
    assert recall == pytest.approx(figures["recall"], abs=1e-6)
    # The weights average to 1 over the rows, as lesson 5 scales them.
    weights = a3.scaled_class_weights(y_fit)
    assert np.mean([weights[label] for label in y_fit]) == pytest.approx(1.0)
    # The threshold is checked against the validation rows: tuned on the test split, it fails.
    from autograder.checks.thresholds import check_threshold_choice

    choice = (model, x_val, fraud.x_train, fraud.y_train, fraud.x_test)
    assert check_threshold_choice(threshold, *choice, beta=a3.BETA).passed
    on_test = check_threshold_choice(threshold, model, fraud.x_test, *choice[2:], beta=a3.BETA)
    assert not on_test.passed and "tuned on the test split" in on_test.message


def _leaky_namespace(x: np.ndarray, y: np.ndarray) -> dict:
    import keras
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from solutions import a4_leaky_pipeline as a4

    namespace = {"np": np, "keras": keras, "x": x, "y": y, "EPOCHS_CAP": 1000,
                 "train_test_split": train_test_split, "StandardScaler": StandardScaler}
    exec(a4.LEAKY_PIPELINE, namespace)  # noqa: S102 - the course's own given code
    return namespace


def test_a4_records_repeat_tumours_and_a_plain_split_leaks_them() -> None:
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    import autograder
    from autograder.checks.leak_scores import tumour_records
    from solutions import a4_leaky_pipeline as a4

    x, y = tumour_records()
    assert len(np.unique(x, axis=0)) < len(x), "the records must hold real repeats"
    x_train, x_test, _, _, scaler = a4.split_and_scale(x, y)
    assert autograder.check_split(x_train, x_test, scaler=scaler).passed
    # Any split that ignores the repeats shares rows, whatever its seed.
    for seed in range(3):
        plain_train, plain_test = train_test_split(x, test_size=0.25, random_state=seed)
        assert not autograder.check_split(plain_train, plain_test).passed
    leaky_scaler = autograder.check_split(
        x_train, x_test, scaler=StandardScaler().fit(np.concatenate([x_train, x_test]))
    )
    assert not leaky_scaler.passed
    # The task text does not give the fix away.
    text = a4.ASSIGNMENT.introduction + " ".join(
        part.markdown for part in a4.ASSIGNMENT.parts if hasattr(part, "markdown"))
    for giveaway in ("duplicate", "unique", "twice", "repeat", "drop_duplicates"):
        assert giveaway not in text.lower(), giveaway


@pytest.mark.slow
def test_a4_reference_scores_and_model_pass_inside_and_outside_the_kernel(
        tmp_path: Path) -> None:
    import autograder
    from autograder import data
    from autograder.checks.leak_scores import check_leak_scores, tumour_records
    from solutions import a4_leaky_pipeline as a4

    _seed_like_the_header_cell()
    x, y = tumour_records()
    leaky = _leaky_namespace(x, y)
    x_train, x_test, y_train, y_test, scaler = a4.split_and_scale(x, y)
    model = a4.build_model()
    a4.train(model, scaler, x_train, y_train, epochs=a4.EPOCHS)
    holdout = data.load_holdout("breast_cancer")
    verdict = autograder.check_metrics(
        model, scaler.transform(holdout.x), holdout.y, min_accuracy=a4.MIN_ACCURACY
    )
    assert verdict.passed, str(verdict)
    scores = {
        "leaky_score": a4.accuracy(leaky["leaky_model"], leaky["leaky_scaler"],
                                   leaky["leaky_x_test"], leaky["leaky_y_test"]),
        "honest_score": a4.accuracy(model, scaler, x_test, y_test),
    }
    objects = {"leaky_model": leaky["leaky_model"], "leaky_scaler": leaky["leaky_scaler"],
               "model": model, "scaler": scaler, "x_test": x_test}
    assert check_leak_scores(**scores, **objects).passed
    # The leaky pipeline's model memorises its training rows, so the copies pay.
    assert scores["leaky_score"] >= 0.98 and scores["leaky_score"] > scores["honest_score"]
    swapped = check_leak_scores(scores["honest_score"] - 0.05, scores["leaky_score"], **objects)
    assert not swapped.passed and swapped.fraction < 1
    assert export_and_verify(tmp_path, a4.ASSIGNMENT, {
        **scores, **objects, "x_train": x_train, "y_test": y_test,
    }) == full_marks(a4.ASSIGNMENT)


def test_grade_cells_leave_no_value_for_nbgrader_to_misread() -> None:
    # nbgrader reads a grade cell's final value as partial credit: cells must end in a statement.
    import ast

    from autograder.render.nbgrader_source import render
    from solutions import assignments

    for assignment in assignments():
        for cell in render(assignment).cells:
            if not cell.metadata.get("nbgrader", {}).get("grade"):
                continue
            code = "\n".join(
                line for line in cell.source.splitlines() if not line.startswith("### ")
            )
            last = ast.parse(code).body[-1]
            ends_quiet = code.rstrip().endswith(";")
            assert not isinstance(last, ast.Expr) or ends_quiet, (assignment.name, code)


# --------------------------------------------------------------------------- build-course


def test_build_course_refuses_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(CourseDirError, match="not empty"):
        build_course(tmp_path)
    result = subprocess.run(
        [str(BIN / "autograder"), "build-course", str(tmp_path)],
        capture_output=True, text=True, env=_env(), timeout=300,
    )
    assert result.returncode == 2
    assert "--force" in result.stderr and "Traceback" not in result.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"
    layout = build_course(tmp_path, force=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / MARKER).is_file() and layout.config.is_file()
    assert all(path.is_file() for path in layout.notebooks.values())


# --------------------------------------------------------------------------- nbgrader round trip


def _env() -> dict[str, str]:
    # nbgrader runs `alembic` from PATH when it creates the gradebook: the venv's bin must be on it.
    return {
        **os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3",
    }


def _nbgrader(course: Path, *args: str) -> None:
    result = subprocess.run(
        [str(BIN / "nbgrader"), *args], cwd=course, capture_output=True, text=True,
        env=_env(), timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "[ERROR]" not in result.stderr.replace("| ERROR]", "[ERROR]"), result.stderr[-3000:]


def _solutions(source: nbformat.NotebookNode) -> dict[str, str]:
    """Reference code of each solution cell, delimiters removed, by grade id."""
    answers = {}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            lines = [
                line for line in cell.source.splitlines()
                if line.strip() not in (BEGIN_SOLUTION, END_SOLUTION)
            ]
            answers[meta["grade_id"]] = "\n".join(lines)
    return answers


def _regions(source: nbformat.NotebookNode) -> list[list[str]]:
    """The non-blank lines inside each solution region."""
    regions = []
    for cell in source.cells:
        if BEGIN_SOLUTION in cell.source:
            inside = cell.source.split(BEGIN_SOLUTION, 1)[1].split(END_SOLUTION, 1)[0]
            regions.append([line.strip() for line in inside.splitlines() if line.strip()])
    return regions


def _cell_text(path: Path) -> str:
    return "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)


def _plant(layout: CourseLayout, student: str, assignment: str, answers: dict[str, str]) -> None:
    """Plant a submission: solution cells by grade id, the name cell by ``YOUR_NAME``."""
    release = nbformat.read(layout.release(assignment), as_version=4)
    submission = copy.deepcopy(release)
    for cell in submission.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
        elif cell.source == NAME_CELL_SOURCE and NAME_VARIABLE in answers:
            cell.source = f"{NAME_VARIABLE} = {answers[NAME_VARIABLE]!r}"
    target = layout.submitted(student, assignment)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(submission, target)
    (target.parent / "timestamp.txt").write_text("2026-01-01 12:00:00.000000 UTC")


# A metric without running counts: each batch overwrites the last one's counts.
_LAST_BATCH_ONLY = (".assign_add(", ".assign(")
_TOP1_AS_TOP3 = ("top3_accuracy = top3(model, x_test, y_test)",
                 "top3_accuracy = float(np.mean(model.predict(x_test, verbose=0).argmax(axis=1) "
                 "== y_test))")
_PLAIN_SPLIT = """\
def split_and_scale(x, y):
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=0, stratify=y
    )
    return x_train, x_test, y_train, y_test, StandardScaler().fit(x_train)


x_train, x_test, y_train, y_test, scaler = split_and_scale(x, y)"""


_STARTER_TO_THE_END = """\
keras.utils.set_random_seed(0)
model = starter_model()
history = model.fit(x_small, y_small, validation_data=(x_val, y_val),
                    epochs=min(120, EPOCHS_CAP), batch_size=16, verbose=0)
chosen_epoch = len(history.history["val_loss"])"""


def _half_answers(assignment: str, solutions: dict[str, str]) -> dict[str, str]:
    """Some answers right, one task done with a shortcut, the rest untouched."""
    if assignment == A1:
        return {
            "conv_output_shape-answer": solutions["conv_output_shape-answer"],
            "output_shape-answer": "output_shape = '(none, 5)'",
            "loss_name-answer": "loss_name = 'categorical_crossentropy'",
        }
    if assignment == A2:
        return {"build-model": solutions["build-model"]}
    if assignment == A3:
        # A threshold near 0 flags every transaction: every fraud found, precision lost.
        train = solutions["train-model"].replace(
            "threshold = choose_threshold(model, x_val, y_val)", "threshold = 0.001")
        return {"baseline_accuracy-answer": solutions["baseline_accuracy-answer"],
                "train-model": train}
    if assignment == A4:
        return {"split-and-scale": _PLAIN_SPLIT, "train-model": solutions["train-model"]}
    if assignment == A5:
        return {"train-screen": solutions["train-screen"],
                "choose-threshold": "threshold = 0.001"}
    if assignment == A6:
        return {"train-cnn": solutions["train-cnn"],
                "read-mistakes": solutions["read-mistakes"].replace(*_TOP1_AS_TOP3)}
    if assignment == A7:
        mcc = _changed(solutions["matthews-correlation"], *_LAST_BATCH_ONLY)
        # The right option, by the letter listed for this learner's name.
        return {"matthews-correlation": mcc, "every-n-epochs": solutions["every-n-epochs"],
                **_choice_letters(_question(A7, "why_state"), "Half Done", _right(A7, "why_state"))}
    if assignment == A9:
        # The starter unchanged, trained to the end and its last epoch kept; the right option.
        return {"train-model": _STARTER_TO_THE_END,
                **_choice_letters(_question(A9, "compare_regularisers"), "Half Done",
                                  _right(A9, "compare_regularisers"))}
    # A wrong option by the letter a blank name lists: "accuracy is undefined for sigmoids".
    return {"train-tagger": solutions["train-tagger"],
            "choose-thresholds": "thresholds = [0.001] * 5",
            "precision-at-k": solutions["precision-at-k"],
            **_choice_letters(_question(A8, "accuracy_misleads"), "",
                              _option(A8, "accuracy_misleads", "Accuracy is undefined"))}


def _question(assignment: str, variable: str) -> object:
    """The choice question an assignment asks in ``variable``."""
    import solutions

    defined = next(a for a in solutions.assignments() if a.name == assignment)
    return next(p.question for p in defined.parts
                if isinstance(p, QuizAnswer) and p.variable == variable)


def _right(assignment: str, variable: str) -> str:
    return next(c.text for c in _question(assignment, variable).choices if c.correct)


def _option(assignment: str, variable: str, start: str) -> str:
    return next(c.text for c in _question(assignment, variable).choices
                if c.text.startswith(start))


def _choice_letters(question: object, name: str, *texts: str) -> dict[str, str]:
    """The answer cell of a learner called ``name`` who picks ``texts`` by the letters their
    notebook lists, and their name cell."""
    from autograder.schema import MultipleSelect

    letters = [letter_of(question, name, text) for text in texts]
    picked: object = letters if isinstance(question, MultipleSelect) else letters[0]
    return {f"{question.id}-answer": f"{question.id} = {picked!r}", NAME_VARIABLE: name}


def _changed(code: str, old: str, new: str) -> str:
    """``code`` with ``old`` replaced by ``new``; fails when ``old`` is not in it."""
    assert old in code, f"the reference code no longer holds {old!r}"
    return code.replace(old, new)


# result() divides by a count it never defined: the metric raises whenever it is asked for one.
_RESULT_TYPO = ("tp * tn - fp * fn, spread)", "tp * tn - fp * fn, self.spread)")
# The callback waits for a model with this notebook's 30 features, so the learner's own training
# finishes and the grader's check (a tiny model on 4 features) never does. It gives up after
# 120 s, so that a check without a time limit fails this test instead of stalling it.
_WAITS_FOR_30_FEATURES = ("    def on_epoch_end(self, epoch, logs=None):\n", """\
    def on_epoch_end(self, epoch, logs=None):
        while self.model.input_shape[-1] != 30 and time.monotonic() < GIVE_UP:
            time.sleep(0.05)
""")


def _broken_answers(student: str, solutions: dict[str, str]) -> dict[str, str]:
    """The reference answers, except the one task a student of :data:`BROKEN` gets wrong."""
    if student == "broken_metric":
        return {**solutions, "matthews-correlation": _changed(solutions["matthews-correlation"],
                                                              *_RESULT_TYPO)}
    if student == "stuck_callback":
        callback = _changed(solutions["every-n-epochs"], *_WAITS_FOR_30_FEATURES)
        give_up = "import time\n\nGIVE_UP = time.monotonic() + 120\n\n\n"
        return {**solutions, "every-n-epochs": give_up + callback}
    return {**solutions, "choose-threshold": _changed(
        solutions["choose-threshold"], "threshold = choose_threshold(model, scaler, x_val, y_val)",
        "threshold = 1.5")}


# What each student of BROKEN earns per grade cell, and what each failing cell says.
BROKEN_SCORES = {
    ("broken_metric", A7): {"metric-matches-sklearn": 0, "callback-records": 2,
                            "why_state-test": 1},
    ("stuck_callback", A7): {"metric-matches-sklearn": 3, "callback-records": 0,
                             "why_state-test": 1},
    ("wild_threshold", A5): {"model-shape": 1, "screen-goal": 0,
                             "threshold-from-validation": 0, "screen-figures-test": 0},
}
BROKEN_MESSAGES = {
    ("broken_metric", A7): {
        "metric-matches-sklearn": "Your metric failed while it was fed rows: AttributeError: "
                                  "'MatthewsCorrelation' object has no attribute 'spread'"},
    ("stuck_callback", A7): {"callback-records": "Training with your callback failed: "
                                                 "TimeoutError: it did not finish within"},
    ("wild_threshold", A5): dict.fromkeys(
        ("screen-goal", "threshold-from-validation", "screen-figures-test"),
        "Your threshold 1.5 is outside (0, 1)"),
}


# The reference code a student of SHORTCUTS changes, as (old, new) pairs for _changed.
# a5: a regression loss on the 0/1 labels (the model check refuses it; the screen still works),
# and the precision reported at the default 0.5 instead of at the chosen threshold.
_MSE_LOSS = ('loss="binary_crossentropy"', 'loss="mse"')
_PRECISION_AT_HALF = ("flagged = scores >= threshold", "flagged = scores >= 0.5")
# a6: a dense network on the flattened image, no convolution. 128 hidden units keep it clear of
# the recall bar whatever the run (64 units: the weakest class at 0.81 to 0.89 over four seeds on
# grader-only images, under the bar in one CI run; 128 units: 0.86 to 0.89).
_NO_CONVOLUTION = ('keras.layers.Conv2D(16, kernel_size=3, activation="relu"),\n'
                   '        keras.layers.Flatten(),',
                   'keras.layers.Flatten(),\n'
                   '        keras.layers.Dense(128, activation="relu"),')
# a6: the 8s, the digit the reference model confuses most, left out of training.
_WITHOUT_EIGHTS = ("history = model.fit(x_train, y_train,",
                   "keep = y_train != 8\nhistory = model.fit(x_train[keep], y_train[keep],")
# a7: epochs recorded as on_epoch_end numbers them, from 0.
_EPOCHS_FROM_0 = ("        if (epoch + 1) % self.every == 0:\n"
                  "            self.records.append((epoch + 1, float(logs[\"loss\"])))",
                  "        if epoch % self.every == 0:\n"
                  "            self.records.append((epoch, float(logs[\"loss\"])))")
# a8: a softmax over the topics (they compete, yet one tagger still finds them), and the share of
# documents with a true topic among their top 2 (top-2 accuracy) reported as precision@2.
_SOFTMAX_TAGS = ('keras.layers.Dense(5, activation="sigmoid")',
                 'keras.layers.Dense(5, activation="softmax")')
_TOP2_ACCURACY = ("return float(np.mean(np.take_along_axis(y, top, axis=1).sum(axis=1) / 2))",
                  "return float(np.mean(np.take_along_axis(y, top, axis=1).max(axis=1)))")


def _shortcut_answers(student: str, solutions: dict[str, str]) -> dict[str, str]:
    """The reference answers, except the shortcuts a student of :data:`SHORTCUTS` takes."""
    answers = dict(solutions)
    if student == "mse_screen":
        answers["train-screen"] = _changed(solutions["train-screen"], *_MSE_LOSS)
        answers["screen-figures"] = _changed(solutions["screen-figures"], *_PRECISION_AT_HALF)
    elif student == "dense_digits":
        answers["train-cnn"] = _changed(solutions["train-cnn"], *_NO_CONVOLUTION)
    elif student == "no_eights":
        answers["train-cnn"] = _changed(solutions["train-cnn"], *_WITHOUT_EIGHTS)
    elif student == "zero_based_callback":
        answers["every-n-epochs"] = _changed(solutions["every-n-epochs"], *_EPOCHS_FROM_0)
        # "Rounding errors of float32 make the gap", by this learner's letter.
        answers.update(_choice_letters(_question(A7, "why_state"), "Zero Based",
                                       _option(A7, "why_state", "The classmate's mean")))
    else:
        answers["train-tagger"] = _changed(solutions["train-tagger"], *_SOFTMAX_TAGS)
        answers["precision-at-k"] = _changed(solutions["precision-at-k"], *_TOP2_ACCURACY)
        # "Keras raises an error", by this learner's letter.
        answers.update(_choice_letters(_question(A8, "accuracy_misleads"), "Softmax Tagger",
                                       _option(A8, "accuracy_misleads", "Accuracy needs one-hot")))
    return answers


# What each student of SHORTCUTS earns per grade cell, and what each failing cell must say: every
# listed fragment, so that the message names the cause.
SHORTCUT_SCORES = {
    # Each right figure earns its share: the precision at 0.5 earns nothing, the PR-AUC its half.
    ("mse_screen", A5): {"model-shape": 0, "screen-goal": 3, "threshold-from-validation": 2,
                         "screen-figures-test": 1},
    ("dense_digits", A6): {"cnn-shape": 0, "unseen-class-recall": 3, "mistake-figures": 2},
    ("no_eights", A6): {"cnn-shape": 1, "unseen-class-recall": 0, "mistake-figures": 2},
    ("zero_based_callback", A7): {"metric-matches-sklearn": 3, "callback-records": 0,
                                  "why_state-test": 0},
    ("softmax_tagger", A8): {"multilabel_activation-test": 1, "tagger-shape": 0,
                             "unseen-macro-f1": 3, "thresholds-from-validation": 2,
                             "precision-at-k-test": 0, "accuracy_misleads-test": 0},
}
SHORTCUT_MESSAGES = {
    ("mse_screen", A5): {
        "model-shape": ("Your model is compiled with 'mse', a regression loss",
                        'Use loss="binary_crossentropy"'),
        "screen-figures-test": ("Your precision is 1.0000, but computed from your model on these "
                                "rows (positive label 0) it is",
                                "flag those at or above `threshold`")},
    ("dense_digits", A6): {
        "cnn-shape": ("check_cnn: failed. Your model's layers are Flatten, Dense, Dense: a CNN "
                      "needs at least one convolution layer",)},
    ("no_eights", A6): {
        "unseen-class-recall": ("Your model finds too few examples of class 8 (recall 0%)",
                                "every class needs a recall of 75%")},
    ("zero_based_callback", A7): {
        "callback-records": ("your callback recorded epochs [0, 2, 4], not [2, 4, 6]",
                             "Keras counts epochs from 0 in on_epoch_end"),
        "why_state-test": ("why_state: failed. The gap is far larger than float32 rounding",)},
    ("softmax_tagger", A8): {
        "tagger-shape": ("outputs sum to 1 in every row, as softmax makes them",
                         'use activation="sigmoid" on the last layer'),
        "precision-at-k-test": ("but the mean share of true labels among each row's 2 most "
                                "probable labels is",),
        "accuracy_misleads-test": ("accuracy_misleads: failed. Keras computes an accuracy from "
                                   "the shapes without raising",)},
}


# What `half` earns per grade cell: the shortcut tasks earn nothing.
HALF_SCORES = {
    A2: {"build-model-test": 2, "test-accuracy": 0, "unseen-accuracy": 0},
    A3: {"baseline_accuracy-test": 1, "model-shape": 1, "threshold-from-validation": 0,
         "unseen-recall-and-precision": 0,
         "report-precision": 0, "report-recall": 0},
    A4: {"no-shared-rows": 0, "scaler-from-train": 2, "leaky-and-honest-scores": 2,
         "unseen-accuracy": 2},
    A5: {"model-shape": 1, "screen-goal": 0, "threshold-from-validation": 0,
         "screen-figures-test": 0},
    # The top-1 accuracy given as top-3 earns nothing; the right confused pair earns its half.
    A6: {"cnn-shape": 1, "unseen-class-recall": 3, "mistake-figures": 1},
    A7: {"metric-matches-sklearn": 0, "callback-records": 2, "why_state-test": 1},
    A8: {"multilabel_activation-test": 0, "tagger-shape": 1, "unseen-macro-f1": 0,
         "thresholds-from-validation": 0, "precision-at-k-test": 1, "accuracy_misleads-test": 0},
    A9: {"unseen-loss": 0, "epoch-from-validation": 0, "compare_regularisers-test": 1},
}


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> CourseLayout:
    """A course built, released, planted, autograded and with feedback generated."""
    root = tmp_path_factory.mktemp("course")
    result = subprocess.run(
        [str(BIN / "autograder"), "build-course", str(root), "--skip-timing"],
        capture_output=True, text=True, env=_env(), timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    layout = CourseLayout(
        root, root / "nbgrader_config.py", root / "gradebook.db",
        {name: root / "source" / name / f"{name}.ipynb" for name in ALL},
    )
    # One nbgrader process per step: nbgrader expands the `*` over source/ and submitted/.
    _nbgrader(root, "generate_assignment", "*")
    for assignment in layout.assignments:
        source = nbformat.read(layout.notebooks[assignment], as_version=4)
        solutions = _solutions(source)
        noisy = {key: NOISE + code for key, code in solutions.items()}
        plans = {"reference": solutions, "noisy": noisy, "blank": {},
                 "half": _half_answers(assignment, solutions)}
        plans.update({student: _broken_answers(student, solutions)
                      for student, assignments in BROKEN.items() if assignment in assignments})
        plans.update({student: _shortcut_answers(student, solutions)
                      for student, assignments in SHORTCUTS.items() if assignment in assignments})
        for student, assignments in PLAN.items():
            if assignment in assignments:
                _plant(layout, student, assignment, plans[student])
    _nbgrader(root, "autograde", "*")
    _nbgrader(root, "generate_feedback", "*")
    return layout


def _scores(layout: CourseLayout, assignment: str, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    url = f"sqlite:///{layout.gradebook}"
    with Gradebook(url, "keras-classroom") as gradebook:
        submission = gradebook.find_submission(assignment, student)
        return {
            grade.name: grade.score
            for notebook in submission.notebooks for grade in notebook.grades
        }


def _max_points(layout: CourseLayout, assignment: str) -> dict[str, float]:
    source = nbformat.read(layout.notebooks[assignment], as_version=4)
    return {
        cell.metadata.nbgrader.grade_id: cell.metadata.nbgrader.points
        for cell in source.cells if cell.metadata.get("nbgrader", {}).get("grade")
    }


pytestmark = pytest.mark.xdist_group("nbgrader-course")


@pytest.mark.nbgrader
def test_build_course_writes_the_documented_layout(course: CourseLayout) -> None:
    marker = json.loads((course.root / MARKER).read_text())
    assert marker["assignments"] == list(ALL)
    config = course.config.read_text()
    assert f"sqlite:///{course.root}/gradebook.db?timeout=60" in config
    assert "c.Execute.timeout" in config and "ClearHiddenTests" in config
    for assignment in course.assignments:
        cells = nbformat.read(course.notebooks[assignment], as_version=4).cells
        header = cells[1].source
        assert header.index("autograder.silence()") < header.index("import keras")
        assert cells[1].metadata.nbgrader["locked"] and not cells[1].metadata.nbgrader["grade"]
        tests = [c for c in cells if c.metadata.get("nbgrader", {}).get("grade")]
        assert len(tests) >= 3, "every assignment gives partial credit over several tests"
        # Every grade cell is re-checked by `autograder grade`, with the same points.
        from autograder.grading.manifest import load

        manifest = load(course.root, assignment)
        points = {c.metadata.nbgrader.grade_id: c.metadata.nbgrader.points for c in tests}
        assert {task.grade_id: task.points for task in manifest.tasks} == points


@pytest.mark.nbgrader
def test_rebuilding_keeps_submissions(course: CourseLayout, tmp_path: Path) -> None:
    # Rebuild a copy: the marker lets build-course overwrite its own files, and only those.
    import shutil

    copy_root = tmp_path / "copy"
    shutil.copytree(course.root, copy_root, ignore=shutil.ignore_patterns("autograded", "feedback"))
    rebuilt = build_course(copy_root)
    assert rebuilt.assignments == course.assignments
    assert (copy_root / "submitted" / "reference" / A1).is_dir()


@pytest.mark.nbgrader
@pytest.mark.parametrize(
    ("student", "assignment"),
    [(student, a) for student in ("reference", "noisy") for a in PLAN[student]],
)
def test_reference_solutions_get_full_marks(
    course: CourseLayout, student: str, assignment: str
) -> None:
    scores = _scores(course, assignment, student)
    assert scores == _max_points(course, assignment)


@pytest.mark.nbgrader
def test_noisy_solution_cells_did_write_to_stderr(course: CourseLayout) -> None:
    # Guard against a test that cannot fail: the noise really reached the notebook.
    nb = nbformat.read(course.autograded("noisy", A2), as_version=4)
    stderr = [
        out.text for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("solution")
        for out in cell.get("outputs", []) if out.get("name") == "stderr"
    ]
    assert any("learner's own debugging output" in text for text in stderr)
    grade_stderr = [
        out for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade")
        for out in cell.get("outputs", []) if out.get("name") == "stderr"
    ]
    assert grade_stderr == []


@pytest.mark.nbgrader
@pytest.mark.parametrize("assignment", PLAN["blank"])
def test_untouched_release_scores_zero(course: CourseLayout, assignment: str) -> None:
    scores = _scores(course, assignment, "blank")
    assert set(scores) == set(_max_points(course, assignment))
    assert sum(scores.values()) == 0


@pytest.mark.nbgrader
def test_half_done_gets_partial_credit(course: CourseLayout) -> None:
    scores = _scores(course, A1, "half")
    assert scores["conv_output_shape-test"] == 1
    assert scores["output_shape-test"] == 1
    assert scores["loss_name-test"] == 0
    assert 0 < sum(scores.values()) < sum(_max_points(course, A1).values())


@pytest.mark.nbgrader
@pytest.mark.parametrize("assignment", sorted(HALF_SCORES))
def test_half_done_earns_its_part_and_shortcuts_earn_nothing(
        course: CourseLayout, assignment: str) -> None:
    assert _scores(course, assignment, "half") == HALF_SCORES[assignment]
    assert 0 < sum(HALF_SCORES[assignment].values()) < sum(
        _max_points(course, assignment).values())


@pytest.mark.nbgrader
@pytest.mark.parametrize("assignment", ALL)
def test_untouched_feedback_says_not_attempted_in_the_course_voice(
        course: CourseLayout, assignment: str) -> None:
    html = course.feedback("blank", assignment).read_text()
    for plumbing in ("autograder.export", "NameError", "except Exception", "require(globals()"):
        assert plumbing not in html, plumbing
    # Every grade cell fails with the check's own "not attempted" message, never a bare error.
    notebook = nbformat.read(course.autograded("blank", assignment), as_version=4)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            errors = [out for out in cell.outputs if out.get("output_type") == "error"]
            assert [out.ename for out in errors] == ["CheckFailed"], cell.source[-200:]
            assert ": not attempted. Write " in errors[0].evalue, errors[0].evalue
            assert errors[0].evalue.split(". Write ")[0] in html


@pytest.mark.nbgrader
def test_feedback_of_a_shortcut_says_what_was_wrong(course: CourseLayout) -> None:
    html = course.feedback("half", A4).read_text()
    assert "check_split: failed" in html
    html = course.feedback("half", A5).read_text()
    assert "of all rows: raise the threshold" in html
    html = course.feedback("half", A7).read_text()
    assert "running counts" in html


def _partly(said: str) -> bool:
    """Whether a grade cell's text output is the grader's verdict of partial credit."""
    found = re.search(r"Checked by the grader: ([0-9.]+) of ([0-9.]+) point", said)
    return bool(found) and 0 < float(found.group(1)) < float(found.group(2))


def _only_these_cells_fail(course: CourseLayout, student: str, assignment: str,
                           messages: Mapping[str, str | tuple[str, ...]]) -> None:
    """Only the grade cells of ``messages`` fail, each with the check's own message holding the
    given text (or every fragment of the given tuple), in the notebook and in the feedback."""
    import html as html_text

    wanted = {grade_id: (text,) if isinstance(text, str) else text
              for grade_id, text in messages.items()}
    notebook = nbformat.read(course.autograded(student, assignment), as_version=4)
    failed, partial = {}, {}
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            errors = [out for out in cell.outputs if out.get("output_type") == "error"]
            said = "".join(out.get("text", "") for out in cell.outputs
                           if out.get("output_type") == "stream")
            if meta["grade_id"] in wanted and not errors and _partly(said):
                # Partial credit: the grader's message and its score, no error.
                partial[meta["grade_id"]] = said
            elif meta["grade_id"] in wanted:
                # The check's own failure, never the learner's exception or the grader's.
                assert [out.ename for out in errors] == ["CheckFailed"], errors
                failed[meta["grade_id"]] = errors[0].evalue
            else:
                assert errors == [], (meta["grade_id"], errors)
    assert {**failed, **partial}.keys() == wanted.keys()
    for grade_id, fragments in wanted.items():
        for fragment in fragments:
            assert fragment in {**failed, **partial}[grade_id], (fragment, grade_id)
    # The feedback shows each failing grade cell's message in place of a traceback.
    html = course.feedback(student, assignment).read_text()
    shown = [html_text.unescape(part.split("</pre>", 1)[0])
             for part in html.split("CheckFailed: ")[1:]]
    assert len(shown) == len(failed), shown
    # A partly paid cell shows the grader's verdict as text, with no error.
    shown += [html_text.unescape(part.split("</pre>", 1)[0])
              for part in html.split("Checked by the grader: ")[1:]] if partial else []
    for grade_id, fragments in wanted.items():
        assert any(all(fragment in text for fragment in fragments) for text in shown), (
            grade_id, shown)
    for text in shown:
        assert "Traceback" not in text and "File " not in text, text
    assert "autograder/checks" not in html and "site-packages/autograder" not in html


@pytest.mark.nbgrader
@pytest.mark.parametrize(("student", "assignment"), sorted(BROKEN_SCORES))
def test_bad_learner_code_costs_its_task_with_a_message_and_the_rest_is_graded(
        course: CourseLayout, student: str, assignment: str) -> None:
    assert _scores(course, assignment, student) == BROKEN_SCORES[student, assignment]
    _only_these_cells_fail(course, student, assignment, BROKEN_MESSAGES[student, assignment])


@pytest.mark.nbgrader
@pytest.mark.parametrize(("student", "assignment"), sorted(SHORTCUT_SCORES))
def test_a_shortcut_earns_nothing_for_its_task_and_the_rest_keeps_its_points(
        course: CourseLayout, student: str, assignment: str) -> None:
    scores = _scores(course, assignment, student)
    assert scores == SHORTCUT_SCORES[student, assignment]
    messages = SHORTCUT_MESSAGES[student, assignment]
    # Exactly the shortcut cells earn nothing; every other cell earns its full points.
    points = _max_points(course, assignment)
    assert {grade_id for grade_id, score in scores.items()
            if score < points[grade_id]} == messages.keys()
    assert {grade_id: points[grade_id] for grade_id in scores if grade_id not in messages} == {
        grade_id: score for grade_id, score in scores.items() if grade_id not in messages}
    _only_these_cells_fail(course, student, assignment, messages)


@pytest.mark.nbgrader
def test_a_callback_that_never_finishes_stops_only_the_graders_check(
        course: CourseLayout) -> None:
    # Guard against a test that cannot fail: the learner's own training with the callback ran
    # through and recorded, so only the check's time limit stopped it.
    from autograder.checks.custom import TIME_LIMIT

    notebook = nbformat.read(course.autograded("stuck_callback", A7), as_version=4)
    training = next(cell for cell in notebook.cells
                    if cell.metadata.get("nbgrader", {}).get("grade_id") == "every-n-epochs")
    assert "while self.model.input_shape[-1] != 30" in training.source
    assert [out for out in training.outputs if out.get("output_type") == "error"] == []
    printed = "".join(out.text for out in training.outputs if out.get("name") == "stdout")
    assert printed.startswith("[(2, "), printed
    check = next(cell for cell in notebook.cells
                 if cell.metadata.get("nbgrader", {}).get("grade_id") == "callback-records")
    errors = [out.evalue for out in check.outputs if out.get("output_type") == "error"]
    assert len(errors) == 1 and f"did not finish within {TIME_LIMIT:g} s" in errors[0], errors


@pytest.mark.nbgrader
def test_feedback_hides_hidden_tests_and_grader_data(course: CourseLayout) -> None:
    for student, assignments in PLAN.items():
        for assignment in assignments:
            html = course.feedback(student, assignment).read_text()
            assert "HIDDEN TESTS" not in html
            assert "load_holdout" not in html and "holdout.x" not in html
            assert "autograder.export" not in html
            assert "check_answer(" not in html and "autograder.schema" not in html
    # A failing hidden test still tells the learner why, in the check's own words.
    html = course.feedback("half", A1).read_text()
    failure = html[html.index("loss_name: failed"):][:800]
    assert "one-hot" in failure and "Traceback" not in failure
    assert "sparse_categorical_crossentropy" not in failure  # the right answer is not revealed


@pytest.mark.nbgrader
def test_release_holds_no_solutions_hidden_tests_or_answers(course: CourseLayout) -> None:
    from solutions import a1_shapes_and_compile as a1

    for assignment in course.assignments:
        release = _cell_text(course.release(assignment))
        source = nbformat.read(course.notebooks[assignment], as_version=4)
        assert BEGIN_HIDDEN not in release and BEGIN_SOLUTION not in release
        assert "load_holdout" not in release and "check_answer" not in release
        for region in _regions(source):
            assert not all(line in release for line in region), region[:5]
    release = _cell_text(course.release(A1))
    for value in (a1.conv_output_shape, a1.output_shape, a1.dense_params, a1.flatten_units,
                  a1.weight_count):
        assert repr(value) not in release
    assert re.search(r"sparse_categorical_crossentropy", release)  # a listed choice, not marked
    assert '"correct"' not in release and "correct=True" not in release


def test_test_cells_are_locked_and_hidden_parts_only_in_source() -> None:
    from solutions import assignments

    for assignment in assignments():
        for part in assignment.parts:
            if isinstance(part, GradeCell) and "load_holdout" in part.visible:
                pytest.fail(f"{assignment.name}/{part.id} shows grader-only data")


def _lessons() -> list[str]:
    """The course's lessons, by stem, from the files in ``lessons/``."""
    return sorted(path.stem for path in (REPO / "lessons").glob("*.md"))


def _graded_tasks(assignment: object) -> set[str]:
    """The names a course-map row may give a graded task of an assignment.

    Args:
        assignment: An :class:`~autograder.render.nbgrader_source.Assignment`.

    Returns:
        Every grade cell's id, and for each question answered in a variable both the variable
        and its grade cell's id (``<variable>-test``).
    """
    from autograder.render.nbgrader_source import QuizAnswer

    names: set[str] = set()
    for part in assignment.parts:
        if isinstance(part, GradeCell):
            names.add(part.id)
        elif isinstance(part, QuizAnswer):
            names |= {part.variable, f"{part.variable}-test"}
    return names


def test_every_lesson_is_assessed_by_a_graded_task_and_the_course_map_says_which() -> None:
    from solutions import assignments

    lessons = _lessons()
    assert len(lessons) >= 8, lessons
    graded: dict[str, list[str]] = {lesson: [] for lesson in lessons}
    tasks = {assignment.name: _graded_tasks(assignment) for assignment in assignments()}
    for assignment in assignments():
        assert assignment.lessons, f"{assignment.name} names no lesson it assesses"
        for lesson in assignment.lessons:
            assert lesson in graded, f"{assignment.name}: unknown lesson {lesson!r}"
            graded[lesson].append(assignment.name)
    assert [lesson for lesson, names in graded.items() if not names] == []
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    course_map = readme[readme.index("## Course map"):]
    course_map = course_map[:course_map.index("\n## ", 1)]
    for lesson, names in graded.items():
        row = next((line for line in course_map.splitlines() if f"`{lesson}`" in line), None)
        assert row is not None, f"the course map has no row for {lesson}"
        for name in names:
            assert f"`{name}`" in row, (lesson, name)
        # The self-check questions it names are questions of that lesson's quiz.
        columns = row.split("|")
        quiz = (REPO / "quizzes" / f"{lesson}.yaml").read_text(encoding="utf-8")
        for question in re.findall(r"`([a-z0-9-]+)`", columns[3]):
            assert f"id: {question}\n" in quiz, (lesson, question)
        # The graded tasks it names ("`assignment`: `task`, `task`; ...") are grade cells of
        # those assignments.
        entries = [entry.strip() for entry in columns[4].split(";") if entry.strip()]
        assert entries, f"the course map names no graded task for {lesson}"
        for entry in entries:
            found = re.fullmatch(r"`([a-z0-9_]+)`:\s*(`[^`]+`(?:,\s*`[^`]+`)*)", entry)
            assert found, f"{lesson}: course-map entry {entry!r} is not `assignment`: `task`, ..."
            name, named = found.group(1), re.findall(r"`([^`]+)`", found.group(2))
            assert name in tasks, f"{lesson}: the course map names no assignment {name!r}"
            unknown = [task for task in named if task not in tasks[name]]
            assert unknown == [], f"{lesson}: {name} has no graded task {unknown}"
