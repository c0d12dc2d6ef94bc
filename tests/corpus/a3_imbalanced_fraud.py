"""Assignment 3 (fraud on an imbalanced data set), as capable learners write it, right and wrong."""

from __future__ import annotations

from corpus import Answers, Case, changed

# The reference's training call and threshold line, which several cases change.
_CHOOSE = "threshold = choose_threshold(model, x_val, y_val)"

# A functional model that outputs a logit, trained with from_logits=True and scikit-learn's
# "balanced" class weights (the scaled weights of lesson 5); the F2 threshold read off
# precision_recall_curve, probabilities from keras.ops.sigmoid.
_FUNCTIONAL_LOGITS = '''\
from sklearn.metrics import precision_recall_curve
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_class_weight

x_fit, x_val, y_fit, y_val = train_test_split(
    x_train, y_train, test_size=0.2, stratify=y_train, random_state=42)

inputs = keras.Input(shape=(10,))
hidden = keras.layers.Dense(48, activation="relu")(inputs)
hidden = keras.layers.Dense(24, activation="relu")(hidden)
logit = keras.layers.Dense(1)(hidden)
model = keras.Model(inputs, logit)
model.compile(optimizer=keras.optimizers.Adam(2e-3),
              loss=keras.losses.BinaryCrossentropy(from_logits=True))
weights = compute_class_weight("balanced", classes=np.array([0, 1]), y=y_fit)
model.fit(x_fit, y_fit, epochs=min(12, EPOCHS_CAP), batch_size=64,
          class_weight={0: float(weights[0]), 1: float(weights[1])}, verbose=0)


def fraud_probability(rows):
    return keras.ops.convert_to_numpy(keras.ops.sigmoid(model(rows))).ravel()


val_scores = fraud_probability(x_val)
precision, recall, cuts = precision_recall_curve(y_val, val_scores)
f2 = 5 * precision[:-1] * recall[:-1] / np.maximum(4 * precision[:-1] + recall[:-1], 1e-12)
threshold = float(cuts[np.argmax(f2)])
print("threshold", threshold)
'''

# A subclassed model with a custom layer, RMSprop, another seed, weights written by hand.
_SUBCLASSED = '''\
from sklearn.metrics import fbeta_score
from sklearn.model_selection import train_test_split

keras.utils.set_random_seed(7)


class Block(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dense = keras.layers.Dense(units, activation="relu")

    def call(self, inputs):
        return self.dense(inputs)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class FraudNet(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.first = Block(64)
        self.second = Block(32)
        self.out = keras.layers.Dense(1, activation="sigmoid")

    def call(self, inputs):
        return self.out(self.second(self.first(inputs)))


x_fit, x_val, y_fit, y_val = train_test_split(
    x_train, y_train, test_size=0.25, stratify=y_train, random_state=3)
model = FraudNet()
model.compile(optimizer=keras.optimizers.RMSprop(1e-3), loss="binary_crossentropy")
frauds = int(y_fit.sum())
weights = {0: len(y_fit) / (2 * (len(y_fit) - frauds)), 1: len(y_fit) / (2 * frauds)}
model.fit(x_fit, y_fit, epochs=min(15, EPOCHS_CAP), batch_size=128, class_weight=weights,
          verbose=0)

scores = model.predict(x_val, verbose=0).ravel()
candidates = np.unique(scores)
best = max(candidates, key=lambda c: fbeta_score(y_val, scores >= c, beta=2))
threshold = float(min(max(best, 1e-6), 1 - 1e-6))
'''

# Activation layers, validation rows watched during training, and extra cells' worth
# of exploration; F2 computed by hand with numpy over every validation probability.
_ACTIVATION_LAYER = '''\
from sklearn.model_selection import train_test_split

x_fit, x_val, y_fit, y_val = train_test_split(
    x_train, y_train, test_size=0.3, stratify=y_train, random_state=11)
print("frauds to validate on:", int(y_val.sum()))

model = keras.Sequential([
    keras.Input(shape=(10,)),
    keras.layers.Dense(64),
    keras.layers.Activation("relu"),
    keras.layers.Dense(32),
    keras.layers.Activation("relu"),
    keras.layers.Dense(1),
    keras.layers.Activation("sigmoid"),
])
model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy",
              metrics=[keras.metrics.AUC(curve="PR", name="pr_auc")])
share = y_fit.mean()
history = model.fit(x_fit, y_fit, validation_data=(x_val, y_val), epochs=min(12, EPOCHS_CAP),
                    batch_size=128, class_weight={0: 0.5 / (1 - share), 1: 0.5 / share},
                    verbose=0)
print("validation PR AUC by epoch:", np.round(history.history["val_pr_auc"], 3))


def f2_at(scores, labels, cut):
    flagged = scores >= cut
    hits = np.sum(flagged & (labels == 1))
    return 5 * hits / (4 * np.sum(labels == 1) + np.sum(flagged))


val_scores = model.predict(x_val, verbose=0).ravel()
f2 = [f2_at(val_scores, y_val, cut) for cut in val_scores]
threshold = float(val_scores[int(np.argmax(f2))])
'''

# Precision with scikit-learn's arguments swapped: precision_score(pred, true) is the recall.
_SWAPPED_PRECISION = ("precision = precision_score(y, predicted, zero_division=0)",
                      "precision = precision_score(predicted, y, zero_division=0)")


def _functional_logits(answers: Answers) -> Answers:
    # The report must score probabilities too: sigmoid of the model's logits.
    report = changed(answers["report-metrics"],
                     "predicted = (model.predict(x, verbose=0).ravel() >= threshold)",
                     "predicted = (fraud_probability(x) >= threshold)")
    return {"train-model": _FUNCTIONAL_LOGITS, "report-metrics": report}


def _grid(answers: Answers) -> Answers:
    return {"train-model": changed(answers["train-model"], _CHOOSE, """\
probabilities = model.predict(x_val, verbose=0).ravel()
grid = np.round(np.linspace(0.01, 0.9, 90), 2)
f2 = [fbeta_score(y_val, probabilities >= cut, beta=2.0) for cut in grid]
threshold = float(grid[int(np.argmax(f2))])""")}


CASES = [
    Case("a3_functional_logits", _functional_logits,
         why="functional model with a logit output, balanced weights, precision_recall_curve"),
    Case("a3_subclassed_rmsprop", lambda answers: {"train-model": _SUBCLASSED},
         why="subclassed model with a custom layer, RMSprop, another seed and split"),
    Case("a3_activation_layers", lambda answers: {"train-model": _ACTIVATION_LAYER},
         why="Activation layers, PR AUC watched on validation, F2 by hand"),
    Case("a3_no_class_weight", lambda answers: {"train-model": changed(
        answers["train-model"], "class_weight=scaled_class_weights(y_train),\n        ", "")},
        why="no class weights: the threshold tuned on validation does the work, and is right"),
    Case("a3_threshold_on_test", lambda answers: {"train-model": changed(
        answers["train-model"], _CHOOSE, "threshold = choose_threshold(model, x_test, y_test)")},
        lost={"threshold-from-validation": (
            "but the best there is", "never choose it on x_test")},
        why="the threshold tuned on the test split"),
    Case("a3_validation_is_test", lambda answers: {"train-model": changed(
        answers["train-model"], _CHOOSE,
        "x_val, y_val = x_test, y_test\nthreshold = choose_threshold(model, x_val, y_val)")},
        lost={"threshold-from-validation": (
            "Some of your validation rows are test rows",
            "A threshold tuned on the test split makes the test score an optimistic guess")},
        why="the test split used as the validation split"),
    Case("a3_lesson_grid", _grid,
         why="the F2 searched on lesson 5's grid of thresholds, which the task allows"),
    Case("a3_f1_threshold", lambda answers: {"train-model": changed(
        answers["train-model"], "BETA = 2.0", "BETA = 1.0")},
        lost={"threshold-from-validation": ("has an F2 of", "but the best there is")},
        why="the threshold with the best F1, not the F2 the task asks for"),
    Case("a3_baseline_fraud_share", lambda answers: {
        "baseline_accuracy-answer": "baseline_accuracy = 0.02"},
        lost={"baseline_accuracy-test": ("That is the share of fraud",)},
        why="the share of fraud given as the baseline accuracy"),
    Case("a3_swapped_precision", lambda answers: {"report-metrics": changed(
        answers["report-metrics"], *_SWAPPED_PRECISION)},
        lost={"report-precision": ("Your precision is", "Precision is the share of flagged "
                                   "rows that really are positive")},
        why="precision_score called with its arguments swapped (that is the recall)"),
]
