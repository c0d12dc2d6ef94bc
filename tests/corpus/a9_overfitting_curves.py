"""Assignment 9 (cure an overfitting network), as capable learners write it, right and wrong."""

from __future__ import annotations

from corpus import Case, changed

# Dropout after each hidden layer, early stopping restoring the best weights, the epoch read
# off the History with NumPy (an np.int64).
_DROPOUT = '''\
def dropout_model():
    model = keras.Sequential([
        keras.Input(shape=(64,)),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


keras.utils.set_random_seed(0)
model = dropout_model()
history = model.fit(x_small, y_small, validation_data=(x_val, y_val), epochs=min(120, EPOCHS_CAP),
                    batch_size=16, verbose=0, callbacks=[keras.callbacks.EarlyStopping(
                        monitor="val_loss", patience=10, restore_best_weights=True)])
chosen_epoch = np.argmin(history.history["val_loss"]) + 1'''

# A smaller network with dropout; the epoch from EarlyStopping's own best_epoch (from 0).
_SMALL = '''\
keras.utils.set_random_seed(2)
inputs = keras.Input(shape=(64,))
hidden = keras.layers.Dense(64, activation="relu")(inputs)
hidden = keras.layers.Dropout(0.2)(hidden)
outputs = keras.layers.Dense(10, activation="softmax")(hidden)
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
stop = keras.callbacks.EarlyStopping(patience=15, restore_best_weights=True)
history = model.fit(x_small, y_small, validation_data=(x_val, y_val), epochs=min(120, EPOCHS_CAP),
                    batch_size=10, verbose=0, callbacks=[stop])
chosen_epoch = stop.best_epoch + 1'''

# The lesson's way: one long run to read the curve, then a retraining for the best epoch count
# with the same seed (its History is the one handed in, its last epoch the chosen one).
_RETRAIN = '''\
def dropout_model():
    model = keras.Sequential([
        keras.Input(shape=(64,)),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3),
                  loss="sparse_categorical_crossentropy")
    return model


keras.utils.set_random_seed(0)
long_run = dropout_model().fit(x_small, y_small, validation_data=(x_val, y_val),
                               epochs=min(40, EPOCHS_CAP), batch_size=16, verbose=0)
best = int(np.argmin(long_run.history["val_loss"])) + 1

keras.utils.set_random_seed(0)
model = dropout_model()
history = model.fit(x_small, y_small, validation_data=(x_val, y_val), epochs=best,
                    batch_size=16, verbose=0)
chosen_epoch = best'''

_TRAIN = "train-model"
_RESTORE = "restore_best_weights=True"

_TRAIN = "train-model"
_RESTORE = "restore_best_weights=True"
_PICK = "chosen_epoch = np.argmin(history.history[\"val_loss\"]) + 1"

CASES = [
    Case("a9_dropout_early_stopping", lambda answers: {_TRAIN: _DROPOUT},
         why="dropout, early stopping restoring the best weights, the epoch as np.int64"),
    Case("a9_small_dropout_best_epoch", lambda answers: {_TRAIN: _SMALL},
         why="a smaller functional network with dropout, EarlyStopping.best_epoch"),
    Case("a9_retrain_for_best_epoch", lambda answers: {_TRAIN: _RETRAIN},
         why="a long run read for its best epoch, then a retraining for that many epochs"),
    Case("a9_early_stopping_keeps_last", lambda answers: {_TRAIN: changed(
        _DROPOUT, _RESTORE, "restore_best_weights=False")},
         lost={"epoch-from-validation": ("`model` does not hold the weights of the epoch you "
                                         "chose", "restore_best_weights=True")},
         why="early stopping without restoring the best weights"),
    Case("a9_starter_to_the_end", lambda answers: {_TRAIN: '''\
keras.utils.set_random_seed(0)
model = starter_model()
history = model.fit(x_small, y_small, validation_data=(x_val, y_val),
                    epochs=min(120, EPOCHS_CAP), batch_size=16, verbose=0)
chosen_epoch = len(history.history["val_loss"])'''},
         lost={"unseen-loss": ("it still fits the training images better than new ones",),
               "epoch-from-validation": ("Your chosen epoch 120 has a validation loss of",)},
         why="the starter unchanged, trained to the end, its last epoch chosen"),
    Case("a9_last_epoch_after_early_stopping", lambda answers: {_TRAIN: changed(
        _DROPOUT, _PICK, "chosen_epoch = len(history.history[\"val_loss\"])")},
         lost={"epoch-from-validation": ("has a validation loss of",
                                         "Keep the epoch where the validation loss is lowest")},
         why="the epoch early stopping stopped at, not the one it restored"),
    Case("a9_val_loss_ranks_l2_first", lambda answers: _wrong_choice(),
         lost={"compare_regularisers-test": ("Keras switches dropout off when it evaluates",)},
         why="dropout thought active in val_loss"),
]


def _wrong_choice() -> dict[str, str]:
    from _options import letter_of

    from solutions import a9_overfitting_curves as a9

    question = a9.REGULARISER_QUESTION.question
    text = next(c.text for c in question.choices if c.text.startswith("Dropout is still"))
    return {"compare_regularisers-answer":
            f"compare_regularisers = {letter_of(question, 'Dee Dropout', text)!r}",
            "YOUR_NAME": "Dee Dropout"}
