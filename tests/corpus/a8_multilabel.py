"""Assignment 8 (multi-label topics), as capable learners write it, right and wrong."""

from __future__ import annotations

from _options import letter_of

from corpus import Answers, Case, changed
from solutions import a8_multilabel as a8

# Lesson 8's way: the last 20 % of the training rows held back (as validation_split does), the
# 0.05 grid searched with scikit-learn's f1_score, the thresholds kept as a NumPy array.
_LESSON_TRAIN = '''\
def build_tagger():
    model = keras.Sequential([
        keras.Input(shape=(20,)),
        keras.layers.Dense(48, activation="relu"),
        keras.layers.Dense(5, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["binary_accuracy"])
    return model


split_at = int(len(x_train) * 0.8)
x_val, y_val = x_train[split_at:], y_train[split_at:]
model = build_tagger()
history = model.fit(x_train, y_train, validation_split=0.2, epochs=min(20, EPOCHS_CAP),
                    batch_size=32, verbose=0)'''

_LESSON_THRESHOLDS = '''\
from sklearn.metrics import f1_score


def label_thresholds(model, x_val, y_val):
    val_scores = model.predict(x_val, verbose=0)
    candidates = np.round(np.arange(0.05, 0.96, 0.05), 2)
    return np.array([
        max(candidates, key=lambda t, j=j: f1_score(y_val[:, j], val_scores[:, j] >= t,
                                                    zero_division=0))
        for j in range(y_val.shape[1])
    ])


thresholds = label_thresholds(model, x_val, y_val)
print(thresholds)'''

# A functional model with logits and from_logits=True; probabilities through keras.ops.sigmoid;
# every validation probability tried; precision@2 with keras.ops.top_k.
_LOGITS_TRAIN = '''\
from sklearn.model_selection import train_test_split


def build_tagger():
    inputs = keras.Input(shape=(20,))
    hidden = keras.layers.Dense(64, activation="relu")(inputs)
    hidden = keras.layers.Dense(32, activation="relu")(hidden)
    logits = keras.layers.Dense(5)(hidden)
    model = keras.Model(inputs, logits)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    return model


x_fit, x_val, y_fit, y_val = train_test_split(x_train, y_train, test_size=0.2, random_state=3)
model = build_tagger()
model.fit(x_fit, y_fit, epochs=min(15, EPOCHS_CAP), batch_size=64, verbose=0)


def probabilities(rows):
    return keras.ops.convert_to_numpy(keras.ops.sigmoid(model.predict(rows, verbose=0)))'''

_LOGITS_THRESHOLDS = '''\
def label_thresholds(model, x_val, y_val):
    scores = probabilities(x_val)
    found = []
    for j in range(5):
        f1s = [(2 * np.sum((scores[:, j] >= t) & (y_val[:, j] == 1))
                / (np.sum(scores[:, j] >= t) + np.sum(y_val[:, j])), t)
               for t in sorted(set(scores[:, j].tolist()))]
        found.append(max(f1s)[1])
    return found


thresholds = label_thresholds(model, x_val, y_val)'''

_LOGITS_PRECISION = '''\
_, top = keras.ops.top_k(keras.ops.convert_to_tensor(probabilities(x_test)), k=2)
hits = np.take_along_axis(y_test, keras.ops.convert_to_numpy(top), axis=1)
precision_at_k = hits.mean()'''

# Thresholds read off scikit-learn's precision_recall_curve (float32 NumPy values), a model with
# dropout, precision@2 a NumPy float from a loop.
_CURVE_TRAIN = '''\
from sklearn.model_selection import train_test_split

x_fit, x_val, y_fit, y_val = train_test_split(x_train, y_train, test_size=0.3, random_state=11)
model = keras.Sequential([
    keras.Input(shape=(20,)),
    keras.layers.Dense(96, activation="relu"),
    keras.layers.Dropout(0.2),
    keras.layers.Dense(5, activation="sigmoid"),
])
model.compile(optimizer="rmsprop", loss="binary_crossentropy")
model.fit(x_fit, y_fit, epochs=min(25, EPOCHS_CAP), batch_size=32, verbose=0)'''

_CURVE_THRESHOLDS = '''\
from sklearn.metrics import precision_recall_curve

val_scores = model.predict(x_val, verbose=0)
thresholds = np.zeros(5, dtype=np.float32)
for j in range(5):
    precision, recall, cuts = precision_recall_curve(y_val[:, j], val_scores[:, j])
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    thresholds[j] = cuts[np.argmax(f1)]'''

_CURVE_PRECISION = '''\
scores = model.predict(x_test, verbose=0)
shares = []
for row, truth in zip(scores, y_test):
    best_two = np.argsort(row)[::-1][:2]
    shares.append(truth[best_two].sum() / 2)
precision_at_k = np.mean(shares)'''


def _choice(variable: str, name: str, start: str) -> Answers:
    question = a8.ACCURACY_QUESTION.question if variable == "accuracy_misleads" else (
        a8.ACTIVATION_QUESTION.question)
    text = next(choice.text for choice in question.choices if choice.text.startswith(start))
    return {f"{variable}-answer": f"{variable} = {letter_of(question, name, text)!r}",
            "YOUR_NAME": name}


CASES = [
    Case("a8_lesson_grid_numpy", lambda answers: {
        "train-tagger": _LESSON_TRAIN, "choose-thresholds": _LESSON_THRESHOLDS,
        **_choice("multilabel_activation", "Lena Grid", "sigmoid"),
        "accuracy_misleads-answer": "accuracy_misleads = " + repr(
            letter_of(a8.ACCURACY_QUESTION.question, "Lena Grid",
                      a8.ACCURACY_QUESTION.answer))},
         why="lesson 8's validation rows and 0.05 grid, thresholds as a NumPy array"),
    Case("a8_functional_logits", lambda answers: {
        "train-tagger": _LOGITS_TRAIN, "choose-thresholds": _LOGITS_THRESHOLDS,
        "precision-at-k": _LOGITS_PRECISION,
        "multilabel_activation-answer": "multilabel_activation = 'Sigmoid'"},
         why="logits with from_logits=True, every probability tried, top_k, a NumPy figure"),
    Case("a8_precision_recall_curve", lambda answers: {
        "train-tagger": _CURVE_TRAIN, "choose-thresholds": _CURVE_THRESHOLDS,
        "precision-at-k": _CURVE_PRECISION},
         why="thresholds off precision_recall_curve in a float32 array, dropout, RMSprop"),
    Case("a8_validation_is_test", lambda answers: {"choose-thresholds": changed(
        answers["choose-thresholds"], "thresholds = label_thresholds(model, x_val, y_val)",
        "x_val, y_val = x_test, y_test\nthresholds = label_thresholds(model, x_val, y_val)")},
         lost={"thresholds-from-validation": ("Some of your validation rows are test rows",
                                              "cut the validation rows out of x_train")},
         why="thresholds tuned on the test split"),
    Case("a8_top2_accuracy", lambda answers: {"precision-at-k": changed(
        answers["precision-at-k"],
        "return float(np.mean(np.take_along_axis(y, top, axis=1).sum(axis=1) / 2))",
        "return float(np.mean(np.take_along_axis(y, top, axis=1).max(axis=1)))")},
         lost={"precision-at-k-test": ("the mean share of true labels among each row's 2 most "
                                       "probable labels is",)},
         why="top-2 accuracy reported as precision@2"),
    Case("a8_softmax_for_tags", lambda answers: _choice(
        "multilabel_activation", "Sami Softmax", "softmax"),
         lost={"multilabel_activation-test": ("Softmax makes the tags compete",)},
         why="softmax for tags that can co-occur"),
    Case("a8_accuracy_undefined", lambda answers: _choice(
        "accuracy_misleads", "Una Defined", "Accuracy is undefined"),
         lost={"accuracy_misleads-test": ("Accuracy is defined for any thresholded "
                                          "prediction",)},
         why="the 'accuracy is undefined for sigmoids' distractor"),
]
