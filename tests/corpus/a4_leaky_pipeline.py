"""Assignment 4 (fix a leaky pipeline), as capable learners write it, right and wrong."""

from __future__ import annotations

from corpus import Answers, Case, changed

# pandas drops the repeated records, a MinMaxScaler (any fitted scaler is judged the same way),
# a functional model that outputs a logit; scores with keras.ops.sigmoid.
_PANDAS_MINMAX = {
    "split-and-scale": '''\
import pandas as pd
from sklearn.preprocessing import MinMaxScaler


def split_and_scale(x, y):
    records = pd.DataFrame(x)
    records["label"] = y
    records = records.drop_duplicates()
    features = records.drop(columns="label").to_numpy()
    labels = records["label"].to_numpy()
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=0.2, random_state=8, stratify=labels)
    return x_train, x_test, y_train, y_test, MinMaxScaler().fit(x_train)


x_train, x_test, y_train, y_test, scaler = split_and_scale(x, y)
''',
    "train-model": '''\
inputs = keras.Input(shape=(30,))
hidden = keras.layers.Dense(64, activation="relu")(inputs)
logit = keras.layers.Dense(1)(hidden)
model = keras.Model(inputs, logit)
model.compile(optimizer=keras.optimizers.Adam(0.005),
              loss=keras.losses.BinaryCrossentropy(from_logits=True))
history = model.fit(scaler.transform(x_train), y_train, validation_split=0.2,
                    epochs=min(60, EPOCHS_CAP), batch_size=32, verbose=0)


def benign(model, rows):
    return keras.ops.convert_to_numpy(keras.ops.sigmoid(model(rows))).ravel() >= 0.5


leaky_score = float(np.mean(
    (leaky_model.predict(leaky_scaler.transform(leaky_x_test), verbose=0).ravel() >= 0.5)
    == leaky_y_test))
honest_score = float(np.mean(benign(model, scaler.transform(x_test)) == y_test))
''',
}

# Repeats dropped with a dict of row bytes, a subclassed model trained with SGD.
_SUBCLASSED = {
    "split-and-scale": '''\
def split_and_scale(x, y):
    first_of = {}
    for i, row in enumerate(x):
        first_of.setdefault(row.tobytes(), i)
    keep = np.array(sorted(first_of.values()))
    x_train, x_test, y_train, y_test = train_test_split(
        x[keep], y[keep], test_size=0.3, random_state=1)
    return x_train, x_test, y_train, y_test, StandardScaler().fit(x_train)


x_train, x_test, y_train, y_test, scaler = split_and_scale(x, y)
''',
    "train-model": '''\
keras.utils.set_random_seed(12)


class TumourNet(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(32, activation="relu")
        self.out = keras.layers.Dense(1, activation="sigmoid")

    def call(self, inputs):
        return self.out(self.hidden(inputs))


model = TumourNet()
model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="binary_crossentropy",
              metrics=["accuracy"])
model.fit(scaler.transform(x_train), y_train, validation_split=0.2, epochs=min(40, EPOCHS_CAP),
          verbose=0)
leaky_flags = leaky_model.predict(leaky_scaler.transform(leaky_x_test), verbose=0) >= 0.5
leaky_score = float(np.mean(leaky_flags.ravel() == leaky_y_test))
honest_score = float(model.evaluate(scaler.transform(x_test), y_test, verbose=0,
                                    return_dict=True)["accuracy"])
''',
}

# Copies kept but grouped (GroupShuffleSplit keeps every copy of a tumour on one side),
# Activation layers and RMSprop; extra cells print what was found.
_GROUPED = {
    "split-and-scale": '''\
from sklearn.model_selection import GroupShuffleSplit


def split_and_scale(x, y):
    _, tumour = np.unique(x, axis=0, return_inverse=True)
    print("distinct tumours:", tumour.max() + 1, "of", len(x), "records")
    splitter = GroupShuffleSplit(n_splits=1, test_size=0.25, random_state=2)
    train_rows, test_rows = next(splitter.split(x, y, groups=tumour.ravel()))
    scaler = StandardScaler().fit(x[train_rows])
    return x[train_rows], x[test_rows], y[train_rows], y[test_rows], scaler


x_train, x_test, y_train, y_test, scaler = split_and_scale(x, y)
''',
    "train-model": '''\
model = keras.Sequential([
    keras.Input(shape=(30,)),
    keras.layers.Dense(16),
    keras.layers.Activation("relu"),
    keras.layers.Dense(1),
    keras.layers.Activation("sigmoid"),
])
model.compile(optimizer=keras.optimizers.RMSprop(0.003), loss="binary_crossentropy")
history = model.fit(scaler.transform(x_train), y_train, validation_split=0.25,
                    epochs=min(40, EPOCHS_CAP), verbose=0)
print("last validation loss:", history.history["val_loss"][-1])


def accuracy(model, scaler, rows, labels):
    return float(np.mean((model.predict(scaler.transform(rows), verbose=0).ravel() >= 0.5)
                         == labels))


leaky_score = accuracy(leaky_model, leaky_scaler, leaky_x_test, leaky_y_test)
honest_score = accuracy(model, scaler, x_test, y_test)
''',
}

# The records split as they come (stratified, but copies of a tumour land on both sides).
_PLAIN_SPLIT = '''\
def split_and_scale(x, y):
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=3, stratify=y)
    return x_train, x_test, y_train, y_test, StandardScaler().fit(x_train)


x_train, x_test, y_train, y_test, scaler = split_and_scale(x, y)
'''
# Repeats dropped, but the scaler fitted on every distinct record before the split.
_SCALER_FIRST = ("    scaler = StandardScaler().fit(x_train)\n",
                 "    scaler = StandardScaler().fit(x[keep])\n")
# Both scores reported as percentages.
_PERCENT = ("honest_score = accuracy(model, scaler, x_test, y_test)\n",
            "honest_score = accuracy(model, scaler, x_test, y_test)\n"
            "leaky_score, honest_score = 100 * leaky_score, 100 * honest_score\n")


def _percent(answers: Answers) -> Answers:
    return {"train-model": changed(answers["train-model"], *_PERCENT)}


CASES = [
    Case("a4_pandas_minmax_logits", lambda answers: dict(_PANDAS_MINMAX),
         why="drop_duplicates in pandas, MinMaxScaler, functional model with a logit"),
    Case("a4_subclassed_sgd", lambda answers: dict(_SUBCLASSED),
         why="repeats dropped by row bytes, subclassed model, SGD, evaluate(return_dict=True)"),
    Case("a4_grouped_split", lambda answers: dict(_GROUPED),
         why="copies kept but grouped with GroupShuffleSplit, Activation layers, RMSprop"),
    Case("a4_plain_split", lambda answers: {"split-and-scale": _PLAIN_SPLIT},
         lost={"no-shared-rows": ("also appear in the training set",
                                  "the test score partly measures memory")},
         why="a split that ignores the repeated records (its scaler is right)"),
    Case("a4_scaler_before_split", lambda answers: {"split-and-scale": changed(
        answers["split-and-scale"], *_SCALER_FIRST)},
        lost={"scaler-from-train": ("match x_train and x_test combined",
                                    "Fit the scaler on the training rows only")},
        why="the scaler fitted on every record before the split (the split is right)"),
    Case("a4_scores_in_percent", _percent,
         lost={"leaky-and-honest-scores": ("Your `leaky_score` is", "Your `honest_score` is",
                                           "not a percentage")},
         why="both scores reported as percentages"),
]
