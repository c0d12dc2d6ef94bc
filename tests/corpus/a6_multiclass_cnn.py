"""Assignment 6 (a small CNN for digits), as capable learners write it, right and wrong."""

from __future__ import annotations

from corpus import Answers, Case, changed

# A functional CNN that outputs logits (from_logits=True), pooled, validated on a split of the
# training rows; the figures with keras.ops (softmax, top_k) and a confusion matrix in numpy.
_FUNCTIONAL_LOGITS = {
    "train-cnn": '''\
inputs = keras.Input(shape=(8, 8, 1))
features = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
features = keras.layers.MaxPooling2D()(features)
features = keras.layers.Flatten()(features)
logits = keras.layers.Dense(10)(features)
model = keras.Model(inputs, logits)
model.compile(optimizer="adam",
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
history = model.fit(x_train, y_train, validation_split=0.2, epochs=min(25, EPOCHS_CAP),
                    verbose=0)
print("best validation accuracy:", max(history.history["val_accuracy"]))
''',
    "read-mistakes": '''\
probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(model(x_test)))
predicted = probabilities.argmax(axis=1)
matrix = np.zeros((10, 10), dtype=int)
np.add.at(matrix, (y_test, predicted), 1)
off_diagonal = matrix - np.diag(np.diag(matrix))
confused_pair = tuple(int(i) for i in np.unravel_index(off_diagonal.argmax(), matrix.shape))
_, top = keras.ops.top_k(probabilities, k=3)
top3_accuracy = float(np.mean(np.any(keras.ops.convert_to_numpy(top) == y_test[:, None],
                                     axis=1)))
''',
}

# A subclassed CNN with two convolutions, SGD with momentum and another seed.
_SUBCLASSED = '''\
keras.utils.set_random_seed(4)


class DigitNet(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = keras.layers.Conv2D(16, 3, padding="same", activation="relu")
        self.conv2 = keras.layers.Conv2D(32, 3, activation="relu")
        self.flat = keras.layers.Flatten()
        self.out = keras.layers.Dense(10, activation="softmax")

    def call(self, inputs):
        return self.out(self.flat(self.conv2(self.conv1(inputs))))


model = DigitNet()
model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, epochs=min(20, EPOCHS_CAP), batch_size=32,
                    validation_split=0.15, verbose=0)
'''

# Activation and Dropout layers, early stopping on a validation split; figures with
# scikit-learn's top_k_accuracy_score and ConfusionMatrixDisplay's matrix.
_ACTIVATION_LAYERS = {
    "train-cnn": '''\
model = keras.Sequential([
    keras.Input(shape=(8, 8, 1)),
    keras.layers.Conv2D(24, (3, 3)),
    keras.layers.Activation("relu"),
    keras.layers.Flatten(),
    keras.layers.Dropout(0.2),
    keras.layers.Dense(10),
    keras.layers.Activation("softmax"),
])
model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
stop = keras.callbacks.EarlyStopping(patience=4, restore_best_weights=True)
model.fit(x_train, y_train, validation_split=0.2, epochs=min(40, EPOCHS_CAP), callbacks=[stop],
          verbose=0)
''',
    "read-mistakes": '''\
from sklearn.metrics import confusion_matrix, top_k_accuracy_score

scores = model.predict(x_test, verbose=0)
matrix = confusion_matrix(y_test, scores.argmax(axis=1), labels=range(10))
best = max(((matrix[t, p], t, p) for t in range(10) for p in range(10) if t != p))
confused_pair = (best[1], best[2])
top3_accuracy = float(top_k_accuracy_score(y_test, scores, k=3, labels=range(10)))
print(confused_pair, top3_accuracy)
''',
}

# Two slips in one cell: the confusion matrix built as (predicted, true), so the pair comes out
# reversed, and argsort's first three columns taken, the three *least* probable classes.
_TRANSPOSED = ("matrix = confusion_matrix(y, predicted, labels=np.arange(10))",
               "matrix = confusion_matrix(predicted, y, labels=np.arange(10))")
_LEAST_PROBABLE = ("[:, -3:]", "[:, :3]")
# No convolution: a dense network on the flattened image (it is accurate enough).
_NO_CONVOLUTION = ('keras.layers.Conv2D(16, kernel_size=3, activation="relu"),\n'
                   '        keras.layers.Flatten(),',
                   'keras.layers.Flatten(),\n'
                   '        keras.layers.Dense(128, activation="relu"),\n'
                   '        keras.layers.Dense(64, activation="relu"),')
# The 5s left out of training (rows filtered by a mask meant to drop outliers).
_WITHOUT_FIVES = ("history = model.fit(x_train, y_train,",
                  "keep = y_train != 5\nhistory = model.fit(x_train[keep], y_train[keep],")


def _subclassed(answers: Answers) -> Answers:
    return {"train-cnn": _SUBCLASSED}


CASES = [
    Case("a6_functional_logits", lambda answers: dict(_FUNCTIONAL_LOGITS),
         why="functional CNN with pooling and logits, figures with keras.ops"),
    Case("a6_subclassed_sgd", _subclassed,
         why="subclassed CNN with two convolutions, SGD with momentum, another seed"),
    Case("a6_activation_layers", lambda answers: dict(_ACTIVATION_LAYERS),
         why="Activation and Dropout layers, early stopping, top_k_accuracy_score"),
    Case("a6_dense_only", lambda answers: {"train-cnn": changed(
        answers["train-cnn"], *_NO_CONVOLUTION)},
        lost={"cnn-shape": ("a CNN needs at least one convolution layer",)},
        why="a dense network, no convolution"),
    Case("a6_without_fives", lambda answers: {"train-cnn": changed(
        answers["train-cnn"], *_WITHOUT_FIVES)},
        lost={"unseen-class-recall": ("Your model finds too few examples of class 5 (recall 0%)",
                                      "every class needs a recall of 75%")},
        why="the 5s left out of training"),
    Case("a6_transposed_and_least_probable", lambda answers: {"read-mistakes": changed(
        changed(answers["read-mistakes"], *_TRANSPOSED), *_LEAST_PROBABLE)},
        lost={"mistake-figures": ("but another pair is confused on", "rows are true classes",
                                  "Your top3_accuracy is")},
        why="the confusion matrix transposed and the three least probable classes taken"),
]
