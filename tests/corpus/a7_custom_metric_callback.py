"""Assignment 7 (a Matthews-correlation metric and a callback), as capable learners write it."""

from __future__ import annotations

from _options import letter_of

from corpus import Answers, Case, changed
from solutions import a7_custom_metric_callback as a7

# The whole confusion matrix in one (2, 2) variable, filled by a one-hot product, with its own
# reset_state.
_MATRIX = '''\
class MatthewsCorrelation(keras.metrics.Metric):
    def __init__(self, name="matthews_correlation", **kwargs):
        super().__init__(name=name, **kwargs)
        # rows: true label, columns: predicted label
        self.matrix = self.add_variable(shape=(2, 2), initializer="zeros", name="matrix")

    def update_state(self, y_true, y_pred, sample_weight=None):
        truth = keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32"), 2)
        guess = keras.ops.one_hot(
            keras.ops.cast(keras.ops.reshape(y_pred, (-1,)) >= 0.5, "int32"), 2)
        if sample_weight is not None:
            truth = truth * keras.ops.reshape(keras.ops.cast(sample_weight, "float32"), (-1, 1))
        self.matrix.assign_add(keras.ops.matmul(keras.ops.transpose(truth), guess))

    def result(self):
        tn, fp = self.matrix[0, 0], self.matrix[0, 1]
        fn, tp = self.matrix[1, 0], self.matrix[1, 1]
        top = tp * tn - fp * fn
        bottom = keras.ops.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        return keras.ops.where(bottom > 0, top / keras.ops.maximum(bottom, 1e-12), 0.0)

    def reset_state(self):
        self.matrix.assign(keras.ops.zeros((2, 2)))'''

# Boolean masks, a strict `>` cut, add_weight, and the coefficient from the four rates
# (MCC = sqrt(PPV TPR TNR NPV) - sqrt(FDR FNR FPR FOR)); the inherited reset_state.
_RATES = '''\
class MatthewsCorrelation(keras.metrics.Metric):
    """MCC from running counts."""

    def __init__(self, threshold=0.5, **kwargs):
        super().__init__(name="mcc", **kwargs)
        self.threshold = threshold
        self.counts = {key: self.add_weight(name=key, shape=(), initializer="zeros")
                       for key in ("tp", "fp", "tn", "fn")}

    def update_state(self, y_true, y_pred, sample_weight=None):
        actual = keras.ops.reshape(keras.ops.equal(y_true, 1), (-1,))
        predicted = keras.ops.reshape(keras.ops.greater(y_pred, self.threshold), (-1,))
        both = {
            "tp": keras.ops.logical_and(actual, predicted),
            "fp": keras.ops.logical_and(keras.ops.logical_not(actual), predicted),
            "tn": keras.ops.logical_and(keras.ops.logical_not(actual),
                                        keras.ops.logical_not(predicted)),
            "fn": keras.ops.logical_and(actual, keras.ops.logical_not(predicted)),
        }
        for key, mask in both.items():
            self.counts[key].assign_add(keras.ops.sum(keras.ops.cast(mask, "float32")))

    def result(self):
        tp, fp, tn, fn = (self.counts[key] for key in ("tp", "fp", "tn", "fn"))
        ratio = keras.ops.divide_no_nan
        good = ratio(tp, tp + fp) * ratio(tp, tp + fn) * ratio(tn, tn + fp) * ratio(tn, tn + fn)
        bad = ratio(fp, tp + fp) * ratio(fn, tp + fn) * ratio(fp, tn + fp) * ratio(fn, tn + fn)
        return keras.ops.sqrt(good) - keras.ops.sqrt(bad)'''

# One vector of four counts, a reset_state that calls the inherited one, and a callback that
# returns early, keeps lists and reads logs.get; the choice answered by its text.
_VECTOR = '''\
class MatthewsCorrelation(keras.metrics.Metric):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.tp_fp_tn_fn = self.add_variable(shape=(4,), initializer="zeros", name="cells")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y = keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "float32")
        p = keras.ops.cast(keras.ops.reshape(y_pred, (-1,)) >= 0.5, "float32")
        w = 1.0 if sample_weight is None else keras.ops.reshape(
            keras.ops.cast(sample_weight, "float32"), (-1,))
        cells = keras.ops.stack([keras.ops.sum(w * y * p), keras.ops.sum(w * (1 - y) * p),
                                 keras.ops.sum(w * (1 - y) * (1 - p)),
                                 keras.ops.sum(w * y * (1 - p))])
        self.tp_fp_tn_fn.assign_add(cells)

    def result(self):
        tp, fp, tn, fn = keras.ops.unstack(self.tp_fp_tn_fn)
        denominator = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
        return keras.ops.divide_no_nan(tp * tn - fp * fn, keras.ops.sqrt(denominator))

    def reset_state(self):
        super().reset_state()'''

_CALLBACK_LISTS = '''\
class EveryNEpochs(keras.callbacks.Callback):
    def __init__(self, every=2):
        super().__init__()
        self.every = every
        self.records = []

    def on_epoch_end(self, epoch, logs=None):
        number = epoch + 1
        if number % self.every:
            return
        self.records.append([number, float(logs.get("loss"))])


model = keras.Sequential([keras.Input(shape=(30,)), keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=[MatthewsCorrelation()])
recorder = EveryNEpochs(every=2)
model.fit(x_train, y_train, epochs=min(6, EPOCHS_CAP), batch_size=64, verbose=0,
          callbacks=[recorder])
records = recorder.records
print(records)'''

# Wrong: each batch's coefficient, averaged over the batches (a stateless metric with state).
_MEAN_OF_BATCHES = '''\
class MatthewsCorrelation(keras.metrics.Metric):
    def __init__(self, name="mcc", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.batches = self.add_variable(shape=(), initializer="zeros", name="batches")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y = keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "float32")
        p = keras.ops.cast(keras.ops.reshape(y_pred, (-1,)) >= 0.5, "float32")
        tp, tn = keras.ops.sum(y * p), keras.ops.sum((1 - y) * (1 - p))
        fp, fn = keras.ops.sum((1 - y) * p), keras.ops.sum(y * (1 - p))
        spread = keras.ops.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        self.total.assign_add(keras.ops.divide_no_nan(tp * tn - fp * fn, spread))
        self.batches.assign_add(1.0)

    def result(self):
        return keras.ops.divide_no_nan(self.total, self.batches)'''

# Wrong: its own reset_state forgets two of the four counts.
_HALF_RESET = '''

    def reset_state(self):
        self.true_positives.assign(0.0)
        self.true_negatives.assign(0.0)'''

_MCC = "matthews-correlation"


def _why(name: str, start: str) -> Answers:
    question = a7.STATE_QUESTION.question
    text = next(choice.text for choice in question.choices if choice.text.startswith(start))
    return {"why_state-answer": f"why_state = {letter_of(question, name, text)!r}",
            "YOUR_NAME": name}


CASES = [
    Case("a7_mcc_confusion_matrix", lambda answers: {_MCC: _MATRIX, **_why(
        "Ada Matrix", "The coefficient of all the rows")},
         why="one (2, 2) variable filled by a one-hot product, its own reset_state"),
    Case("a7_mcc_from_rates", lambda answers: {_MCC: _RATES},
         why="boolean masks, a strict cut, add_weight, the coefficient from four rates"),
    Case("a7_mcc_count_vector", lambda answers: {
        _MCC: _VECTOR, "every-n-epochs": _CALLBACK_LISTS,
        "why_state-answer": f"why_state = {a7.STATE_QUESTION.answer!r}"},
         why="a vector of counts, an inherited reset called explicitly, the choice by its text"),
    Case("a7_mcc_mean_of_batch_coefficients", lambda answers: {_MCC: _MEAN_OF_BATCHES},
         lost={"metric-matches-sklearn": (
             "the figure depends on how the rows are batched",
             "Keep running counts (true and false positives and negatives)")},
         why="the mean of the batches' coefficients"),
    Case("a7_mcc_reset_forgets_two_counts", lambda answers: {
        _MCC: answers[_MCC] + _HALF_RESET},
         lost={"metric-matches-sklearn": (
             "after reset_state() it gives",
             "reset_state() must set every state variable back to its start value")},
         why="an own reset_state that resets two of the four counts"),
    Case("a7_mcc_without_square_root", lambda answers: {_MCC: changed(
        answers[_MCC], "keras.ops.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))",
        "(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)")},
         lost={"metric-matches-sklearn": (
             "Fed 200 rows as one batch, a new instance of your metric gives",
             "Matthews correlation (matthews_corrcoef)")},
         why="the coefficient without the square root"),
    Case("a7_callback_every_epoch", lambda answers: {"every-n-epochs": changed(
        answers["every-n-epochs"], "        if (epoch + 1) % self.every == 0:\n    ", "")},
         lost={"callback-records": ("your callback recorded epochs [1, 2, 3, 4, 5, 6], not "
                                    "[2, 4, 6]",)},
         why="a callback that records every epoch"),
    Case("a7_why_state_rounding", lambda answers: _why("Rhea Rounding", "The classmate's mean"),
         lost={"why_state-test": ("The gap is far larger than float32 rounding",)},
         why="the rounding distractor"),
]
