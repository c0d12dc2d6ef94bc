"""How fast are the checks? Prints the import time of ``autograder`` and the time of each check.

Run with ``make bench`` or ``.venv/bin/python benchmarks/check_speed.py``. The target is at most
1 s per ``check_model`` call once Keras is loaded (a grade cell should feel instant), and an
``import autograder`` that does not load Keras or TensorFlow.

Each check is timed twice: the first call includes one-off work such as building the model's
weights; the second is the steady state a learner sees when re-running a cell.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

TARGET_SECONDS = 1.0

_IMPORT_PROBE = """
import sys, time
start = time.perf_counter()
import autograder
elapsed = time.perf_counter() - start
print(elapsed, 'keras' in sys.modules, 'tensorflow' in sys.modules)
"""


def import_time() -> tuple[float, bool]:
    """Time ``import autograder`` in a fresh interpreter.

    Returns:
        Seconds taken, and whether the import pulled in Keras or TensorFlow.
    """
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), out[1] == "True" or out[2] == "True"


def timed(call: Callable[[], Any]) -> tuple[float, float, Any]:
    """Run a call twice.

    Returns:
        Seconds of the first and the second call, and the second call's result.
    """
    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    start = time.perf_counter()
    value = call()
    return first, time.perf_counter() - start, value


def _models(keras: Any) -> dict[str, tuple[Any, dict[str, Any]]]:
    layers = keras.layers
    image = {"input_shape": (28, 28, 1), "num_classes": 10}

    def compiled(model: Any, loss: Any = "sparse_categorical_crossentropy") -> Any:
        model.compile(optimizer="adam", loss=loss)
        return model

    inputs = keras.Input((28, 28, 1))
    functional = keras.Model(
        inputs, layers.Dense(10, activation="softmax")(layers.Flatten()(inputs))
    )
    return {
        "MLP (Sequential, 784-128-10)": (compiled(keras.Sequential([
            keras.Input((28, 28, 1)), layers.Flatten(), layers.Dense(128, activation="relu"),
            layers.Dense(10, activation="softmax")])), image),
        "CNN (2 conv blocks)": (compiled(keras.Sequential([
            keras.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(), layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(), layers.Flatten(), layers.Dense(10, activation="softmax")])),
            image),
        "functional": (compiled(functional), image),
        "logits, from_logits=True": (compiled(keras.Sequential([
            keras.Input((28, 28, 1)), layers.Flatten(), layers.Dense(10)]),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True)), image),
        "binary sigmoid (10 features)": (compiled(keras.Sequential([
            keras.Input((10,)), layers.Dense(16, activation="relu"),
            layers.Dense(1, activation="sigmoid")]), "binary_crossentropy"),
            {"input_shape": (10,), "num_classes": 2}),
        "CNN, Rescaling(1/255) front, logits": (compiled(keras.Sequential([
            keras.Input((32, 32, 3)), layers.Rescaling(1.0 / 255),
            layers.Conv2D(16, 3, padding="same", activation="relu"), layers.MaxPooling2D(),
            layers.Conv2D(32, 3, padding="same", activation="relu"), layers.MaxPooling2D(),
            layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dense(5)]),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True)),
            {"input_shape": (32, 32, 3), "num_classes": 5}),
        "Flatten(input_shape=(28, 28)) fed (28, 28, 1)": (compiled(keras.Sequential([
            layers.Flatten(input_shape=(28, 28)), layers.Dense(128, activation="relu"),
            layers.Dense(10, activation="softmax")])), image),
        "multi-hot, sigmoid per label": (compiled(keras.Sequential([
            keras.Input((20,)), layers.Dense(64, activation="relu"),
            layers.Dense(5, activation="sigmoid")]), "binary_crossentropy"),
            {"input_shape": (20,), "num_classes": 5, "labels": "multi_hot"}),
        "wrong: no Flatten": (compiled(keras.Sequential([
            keras.Input((28, 28, 1)), layers.Dense(10, activation="softmax")])), image),
        "wrong: multi-hot with softmax": (compiled(keras.Sequential([
            keras.Input((20,)), layers.Dense(64, activation="relu"),
            layers.Dense(5, activation="softmax")]), "binary_crossentropy"),
            {"input_shape": (20,), "num_classes": 5, "labels": "multi_hot"}),
    }


def main() -> int:
    """Print the timings.

    Returns:
        0 when every steady-state check_model call met the target, else 1.
    """
    seconds, loads_keras = import_time()
    print(f"import autograder (fresh process): {seconds:.3f} s; "
          f"loads Keras/TensorFlow: {'yes' if loads_keras else 'no'}")

    from autograder import check_metrics, check_model, check_split, data, silence

    silence()
    start = time.perf_counter()
    import keras
    import numpy as np
    from sklearn.preprocessing import StandardScaler

    print(f"import keras: {time.perf_counter() - start:.2f} s (paid once per kernel)\n")
    print(f"{'check_model on':46} {'first':>8} {'again':>8}  verdict")
    slow = False
    slowest = 0.0
    for name, (model, task) in _models(keras).items():
        first, again, res = timed(lambda m=model, t=task: check_model(m, **t))
        slow |= again > TARGET_SECONDS
        slowest = max(slowest, again)
        flag = "" if again <= TARGET_SECONDS else f"  SLOWER THAN {TARGET_SECONDS} s"
        print(f"{name:46} {first:7.3f}s {again:7.3f}s  {res.outcome.value}{flag}")

    print(f"slowest check_model once Keras is loaded: {slowest:.3f} s per model "
          f"(target {TARGET_SECONDS:.0f} s)")

    fraud, holdout = data.load_fraud(), data.load_holdout("fraud")
    majority = keras.Sequential([keras.Input((10,)), keras.layers.Dense(
        1, activation="sigmoid", bias_initializer=keras.initializers.Constant(-8.0))])
    digits = data.load_digits()
    cnn = keras.Sequential([
        keras.Input((8, 8, 1)), keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    scaler = StandardScaler().fit(fraud.x_train)
    others = {
        f"check_metrics, fraud holdout ({len(holdout.x)} rows)": lambda: check_metrics(
            majority, holdout.x, holdout.y, min_accuracy=0.9, min_recall=0.5),
        f"check_metrics, digits CNN ({len(digits.x_test)} rows)": lambda: check_metrics(
            cnn, digits.x_test, digits.y_test, min_accuracy=0.9),
        f"check_split + scaler ({len(fraud.x_train)}+{len(fraud.x_test)} rows)": lambda: (
            check_split(fraud.x_train, fraud.x_test, scaler=scaler)),
        f"check_split, digits images ({len(digits.x_train)} rows)": lambda: check_split(
            digits.x_train, np.concatenate([digits.x_test, digits.x_train[:5]])),
    }
    print(f"\n{'other checks':42} {'first':>8} {'again':>8}  verdict")
    for name, call in others.items():
        first, again, res = timed(call)
        print(f"{name:42} {first:7.3f}s {again:7.3f}s  {res.outcome.value}")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
