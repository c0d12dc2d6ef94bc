"""Assignment 5 (a screening threshold), as capable learners write it, right and wrong."""

from __future__ import annotations

from corpus import Answers, Case, changed

# A functional model that outputs a logit (from_logits=True), malignant made label 1 with
# numpy; the threshold and the figures from keras.ops.sigmoid of the logits.
_FUNCTIONAL_LOGITS = {
    "train-screen": '''\
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

x_fit, x_val, y_fit, y_val = train_test_split(
    x_train, y_train, test_size=0.3, stratify=y_train, random_state=5)


def train_screen(x_fit, y_fit, epochs):
    scaler = StandardScaler().fit(x_fit)
    inputs = keras.Input(shape=(30,))
    logit = keras.layers.Dense(1)(inputs)
    model = keras.Model(inputs, logit)
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    malignant = np.where(y_fit == 0, 1, 0)
    model.fit(scaler.transform(x_fit), malignant, epochs=epochs, batch_size=16, verbose=0)
    return model, scaler


model, scaler = train_screen(x_fit, y_fit, epochs=min(40, EPOCHS_CAP))
''',
    "choose-threshold": '''\
def p_malignant(rows):
    logits = model(scaler.transform(rows))
    return keras.ops.convert_to_numpy(keras.ops.sigmoid(logits)).ravel()


def choose_threshold(model, scaler, x_val, y_val):
    malignant_scores = np.sort(p_malignant(x_val)[y_val == 0])
    # keep the top 98 %: drop the lowest scores while the recall stays >= 0.98
    keep = int(np.ceil(0.98 * len(malignant_scores)))
    return float(malignant_scores[len(malignant_scores) - keep])


threshold = choose_threshold(model, scaler, x_val, y_val)
''',
    "screen-figures": '''\
from sklearn.metrics import average_precision_score, precision_score

scores = p_malignant(x_test)
test_precision = float(precision_score(y_test == 0, scores >= threshold))
test_pr_auc = float(average_precision_score(y_test == 0, scores))
''',
}

# A subclassed model with a hidden layer, SGD with momentum, another seed; the rule written as
# a loop over candidate thresholds.
_SUBCLASSED = {
    "train-screen": '''\
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

keras.utils.set_random_seed(21)


class Screen(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(8, activation="tanh")
        self.out = keras.layers.Dense(1, activation="sigmoid")

    def call(self, inputs):
        return self.out(self.hidden(inputs))


x_fit, x_val, y_fit, y_val = train_test_split(
    x_train, y_train, test_size=0.25, stratify=y_train, random_state=1)


def train_screen(x_fit, y_fit, epochs):
    scaler = StandardScaler().fit(x_fit)
    model = Screen()
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                  loss="binary_crossentropy")
    model.fit(scaler.transform(x_fit), 1 - y_fit, epochs=epochs, verbose=0)
    return model, scaler


model, scaler = train_screen(x_fit, y_fit, epochs=min(30, EPOCHS_CAP))
''',
    "choose-threshold": '''\
def choose_threshold(model, scaler, x_val, y_val):
    scores = model.predict(scaler.transform(x_val), verbose=0).ravel()
    malignant = y_val == 0
    best = None
    for cut in np.sort(np.unique(scores[malignant])):
        if np.mean(scores[malignant] >= cut) >= 0.98:
            best = cut
    return float(best)


threshold = choose_threshold(model, scaler, x_val, y_val)
print("threshold", threshold)
''',
}

# Activation layers and RMSprop, an extra exploration cell's worth of output; figures from the
# confusion matrix of scikit-learn (labels ordered so malignant is the positive class).
_REFERENCE_MODEL = (
    "    model = keras.Sequential([\n"
    "        keras.Input(shape=(30,)),\n"
    '        keras.layers.Dense(1, activation="sigmoid"),\n'
    "    ])\n"
    "    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), "
    'loss="binary_crossentropy")')
_ACTIVATION_LAYERS = (_REFERENCE_MODEL, """\
    model = keras.Sequential([
        keras.Input(shape=(30,)),
        keras.layers.Dense(4),
        keras.layers.Activation("relu"),
        keras.layers.Dense(1),
        keras.layers.Activation("sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.005),
                  loss="binary_crossentropy", metrics=["accuracy"])""")
_CONFUSION_FIGURES = '''\
from sklearn.metrics import average_precision_score, confusion_matrix

scores = model.predict(scaler.transform(x_test), verbose=0).ravel()
malignant = (y_test == 0).astype(int)
tn, fp, fn, tp = confusion_matrix(malignant, (scores >= threshold).astype(int)).ravel()
print("tp, fp, fn, tn:", tp, fp, fn, tn)
test_precision = float(tp / (tp + fp))
test_pr_auc = float(average_precision_score(malignant, scores))
'''


def _activation_layers(answers: Answers) -> Answers:
    return {"train-screen": changed(answers["train-screen"], *_ACTIVATION_LAYERS),
            "screen-figures": _CONFUSION_FIGURES}


# The model trained on the labels as given: its sigmoid is the probability of benign (label 1).
# The rule and the figures are computed from that same output, so they are consistent; the
# screen itself cannot work.
_BENIGN_OUTPUT = ("(y_fit == 0).astype(int)", "y_fit")

CASES = [
    Case("a5_functional_logits", lambda answers: dict(_FUNCTIONAL_LOGITS),
         why="functional model with a logit, keras.ops.sigmoid, precision_score"),
    Case("a5_subclassed_sgd", lambda answers: dict(_SUBCLASSED),
         why="subclassed model, SGD with momentum, another seed, the rule as a loop"),
    Case("a5_activation_layers", _activation_layers,
         why="Activation layers, RMSprop, figures from the confusion matrix"),
    Case("a5_benign_output", lambda answers: {"train-screen": changed(
        answers["train-screen"], *_BENIGN_OUTPUT)},
        lost={"screen-goal": ("its output is the probability of the other class",
                              "Train it to output the probability of label 0")},
        why="trained on the labels as given: the output is P(benign), not P(malignant)"),
    Case("a5_threshold_on_test", lambda answers: {"choose-threshold": changed(
        answers["choose-threshold"], "threshold = choose_threshold(model, scaler, x_val, y_val)",
        "threshold = choose_threshold(model, scaler, x_test, y_test)")},
        lost={"threshold-from-validation": ("but the rule picks", "Compute it on x_val"),
              # The test split holds a malignant tumour the model scores near 0: the rule
              # there keeps it, and the screen flags most tumours on unseen data.
              "screen-goal": ("it flags", "raise the threshold")},
        why="the rule applied to the test split"),
    Case("a5_figures_for_benign", lambda answers: {"screen-figures": changed(
        answers["screen-figures"], "malignant = y == 0", "malignant = y == 1")},
        lost={"screen-figures-test": ("(positive label 0)",
                                      "Precision is the share of flagged rows")},
        why="precision and PR-AUC computed with benign as the positive class"),
]
