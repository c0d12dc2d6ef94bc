"""Identical hand-ins from the grading results: rare wrong answers and trained models."""

from __future__ import annotations

import json
from pathlib import Path

from autograder.grading import similarity
from autograder.grading.identical import identical_models, shared_answers
from autograder.grading.layout import CourseLayout

CELL, OTHER = "train-cnn-test", "unseen-accuracy-test"
MODEL = "model `model`"


def _result(student: str, digest: str | None, answer: object = None) -> dict:
    tasks = [{"grade_id": cell, "score": 0.0, "max_score": 1.0, "answer": answer,
              "exports": {MODEL: digest} if digest is not None else {}}
             for cell in (CELL, OTHER)]
    return {"student": student, "tasks": tasks}


def test_learners_with_the_same_trained_weights_form_one_group_per_model() -> None:
    results = [_result("ann", "a" * 64), _result("bob", "a" * 64), _result("cat", "a" * 64),
               _result("dan", "b" * 64), _result("eve", ""), _result("fay", "")]
    groups = identical_models(results)
    # One group for the copied model, naming both cells that judged it; a model of one's own
    # and models without a fingerprint (never trained) are no evidence.
    assert [(g.kind, g.cell, g.students) for g in groups] == [
        ("model", f"{CELL}, {OTHER}", ("ann", "bob", "cat"))]
    assert groups[0].value.startswith(MODEL) and "a" * 16 in groups[0].value


def test_results_an_older_grader_wrote_are_read_without_fingerprints() -> None:
    old = {"student": "gus", "tasks": [{"grade_id": CELL, "score": 0.0, "max_score": 1.0}]}
    broken = [{"tasks": []}, {"student": "hal", "tasks": None}, "not a result"]
    assert identical_models([old, *broken, _result("ivy", "c" * 64)]) == []
    assert shared_answers([old, *broken], {CELL}) == []


def test_the_similarity_section_shows_identical_models(tmp_path: Path) -> None:
    from autograder.grading.manifest import manifest_for
    from solutions.a1_shapes_and_compile import ASSIGNMENT, NAME

    layout = CourseLayout(tmp_path)
    manifest_for(ASSIGNMENT).write(tmp_path)
    layout.release(NAME).parent.mkdir(parents=True)
    layout.release(NAME).write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4,
                                                "nbformat_minor": 5}), encoding="utf-8")
    layout.results(NAME).mkdir(parents=True)
    for student, digest in (("kim", "d" * 64), ("lou", "d" * 64), ("max", "e" * 64)):
        (layout.results(NAME) / f"{student}.json").write_text(
            json.dumps(_result(student, digest)), encoding="utf-8")
    found = similarity.find_similarity(tmp_path, NAME)
    assert [(g.kind, g.students) for g in found.groups] == [("model", ("kim", "lou"))]
    assert any("1 of trained models" in line for line in similarity.summary_lines(found))
    page = similarity.write_html(found, tmp_path / "similarity.html").read_text("utf-8")
    assert "identical models" in page and "kim" in page and "max" not in page
    import csv

    with open(similarity.write_csv(found, tmp_path / "similarity.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(row["kind"], json.loads(row["students"])) for row in rows] == [
        ("identical model", ["kim", "lou"])]
