"""Lesson 6 runs end to end, and what its prose claims about leakage and overfitting holds.

The lesson executes in a fresh kernel with fewer epochs (``COURSE_EPOCHS``); its figures are read
back with ``probe`` and each assertion mirrors a sentence of the lesson.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _lessons import run_lesson

pytestmark = pytest.mark.slow


def test_lesson_06_leakage_overfitting(tmp_path: Path) -> None:
    epochs = 8
    v = run_lesson("06-leakage-overfitting", tmp_path, epochs=epochs, explorers=1, probe={
        "replayed_and_real": "[replayed.epochs_run, epochs_run]",
        "stop_never_earlier": "stop_never_earlier",
        "batch_loss_falling": "[bool(np.all(np.diff(r['loss']) < 0))"
                              " for r in by_batch_size.values()]",
        "leaks": "{k: {s: {m: float(x) for m, x in f.items()} for s, f in p.items()} "
                 "for k, p in leaks.items()}",
        "shared": "int(shared)",
        "split_check_passed": "split_check_passed",
        "group_cv": "{k: [float(a) for a in x] for k, x in group_cv.items()}",
        "same_patient": "same_patient",
        "time_cv": "time_cv",
        "forward_cut_rows": "[len(y_days[:cut]), len(y_days[cut:])]",
        "train_acc": "float(long_run['accuracy'][-1])",
        "val_acc": "float(long_run['val_accuracy'][-1])",
        "val_loss": "[float(x) for x in long_run['val_loss']]",
        "long_epochs": "LONG_EPOCHS",
        "epochs_run": "epochs_run",
        "stopped_val_losses": "[float(x) for x in short_run['val_loss']]",
        "restored_val_loss": "float(restored_val_loss)",
        "short_reference_matches": "short_reference['loss'] == long_run['loss'][:EPOCHS]",
        "regularised": "{k: [float(x) for x in r['val_loss']] for k, r in regularised.items()}",
        "rise": "{k: float(x) for k, x in rise_after_minimum.items()}",
        "final_train_loss": "{k: float(x) for k, x in final_train_loss.items()}",
        "batch_loss": "{k: [float(x) for x in r['loss']] for k, r in by_batch_size.items()}",
        "steps": "steps_per_epoch",
        "regularised_layers": "[type(layer).__name__ for layer in digit_model(dropout=0.5).layers]",
        "l2_config": "digit_model(l2=1e-3).layers[0].get_config()['kernel_regularizer']",
        "loss_parts": "[float(reported_loss), cross_entropy, l2_term]",
        "search": "{k: [float(a), e] for k, (a, e) in search.items()}",
        "chosen": "[chosen, chosen_epochs]",
        "final_rows": "len(y_small) + len(y_dval)",
        "final_test_accuracy": "float(final_test_accuracy)",
        "best_val_accuracy": "{k: float(x) for k, x in best_val_accuracy.items()}",
    })
    # The training-curve explorer replays EarlyStopping: the same stop as the real callback,
    # later (never earlier) with more patience, and a batch-size run still falling at the end.
    replayed, real = v["replayed_and_real"]
    assert replayed == real
    assert v["stop_never_earlier"] is True
    assert any(v["batch_loss_falling"]), v["batch_loss_falling"]
    # Leakage: the mild scaler leak, and five leaks that inflate both figures.
    leaks = v["leaks"]
    assert len(leaks) == 6
    mild = leaks["scaler fitted on all rows"]
    assert abs(mild["leaky"]["auc"] - mild["honest"]["auc"]) < 0.02, mild
    assert abs(mild["leaky"]["f1"] - mild["honest"]["f1"]) < 0.05, mild
    for kind in ("features chosen on all rows", "duplicates across the split",
                 "feature that leaks the target", "visits of one patient on both sides",
                 "time order broken by a random split"):
        pair = leaks[kind]
        for metric in ("auc", "f1"):
            assert pair["leaky"][metric] > pair["honest"][metric], (kind, pair)
    assert leaks["features chosen on all rows"]["honest"]["auc"] < 0.6  # noise stays noise
    assert v["shared"] > 0
    # Group and time leaks: clearly inflated on one split, and in every fold of cross-validation.
    for kind in ("visits of one patient on both sides", "time order broken by a random split"):
        assert leaks[kind]["leaky"]["auc"] > leaks[kind]["honest"]["auc"] + 0.15, leaks[kind]
    assert v["same_patient"] > 0.7
    group_cv, time_cv = v["group_cv"], v["time_cv"]
    rows, patients = group_cv["rows at random (KFold)"], group_cv["by patient (GroupKFold)"]
    assert len(rows) == len(patients) == 5 and min(rows) > max(patients)
    shuffled, forward = time_cv["shuffled (KFold)"], time_cv["forward (TimeSeriesSplit)"]
    assert len(shuffled) == len(forward) == 5
    for (s_mean, s_spread), (f_mean, f_spread) in zip(shuffled, forward, strict=True):
        assert s_mean > f_mean + 0.05 and s_spread < f_spread
    assert v["forward_cut_rows"] == [1125, 375]
    # check_split sees duplicates and the scaler, and cannot see the other four leaks.
    assert v["split_check_passed"] == {
        "scaler fitted on all rows": False,
        "features chosen on all rows": True,
        "duplicates across the split": False,
        "feature that leaks the target": True,
        "visits of one patient on both sides": True,
        "time order broken by a random split": True,
    }
    # Overfitting: training accuracy far above validation, validation loss rising at the end.
    assert v["train_acc"] >= 0.99
    assert v["train_acc"] - v["val_acc"] >= 0.05
    assert v["val_loss"][-1] > min(v["val_loss"])
    # The reference for the half-length runs is the long run's first epochs.
    assert v["short_reference_matches"] is True
    # Regularisation: L2 and the smaller network rise less after their lowest validation loss.
    assert v["regularised"]["no regularisation"] == pytest.approx(v["val_loss"])
    rise = v["rise"]
    assert rise["no regularisation"] > 0
    assert rise["L2 1e-3"] < rise["no regularisation"]
    assert rise["32 units, not 256"] < rise["no regularisation"]
    assert "Dropout" in v["regularised_layers"]
    assert v["l2_config"]["config"]["l2"] == pytest.approx(1e-3)
    # Keras adds the L2 penalty to the validation loss too: reported = cross-entropy + penalty.
    reported, cross_entropy, l2_term = v["loss_parts"]
    assert l2_term > 0.01
    assert reported == pytest.approx(cross_entropy + l2_term, abs=1e-4)
    # The search: the four runs scored on their best validation accuracy, the best one chosen
    # with the epoch of its best accuracy, then retrained on the 400 training and validation
    # images.
    search = v["search"]
    assert set(search) == set(v["best_val_accuracy"])
    for name, (accuracy, _) in search.items():
        assert accuracy == pytest.approx(v["best_val_accuracy"][name])
    chosen, chosen_epochs = v["chosen"]
    assert search[chosen][0] == max(accuracy for accuracy, _ in search.values())
    assert chosen_epochs == search[chosen][1] and 1 <= chosen_epochs <= v["long_epochs"]
    assert v["final_rows"] == 400
    assert v["final_test_accuracy"] > 0.7
    # Learning rate: both extremes end with a higher training loss than the middle rate.
    lr = v["final_train_loss"]
    assert lr["Adam 1e-4 (small)"] > lr["Adam 3e-3 (above)"]
    assert lr["Adam 0.1 (large)"] > lr["Adam 3e-3 (above)"]
    # Batch size: 25 steps per epoch against 1, and the full batch ends with the highest loss.
    assert v["steps"] == {"batch 4": 25, "batch 16 (above)": 7, "batch 100 (all)": 1}
    finals = {name: losses[-1] for name, losses in v["batch_loss"].items()}
    assert all(len(losses) == epochs for losses in v["batch_loss"].values())
    assert max(finals, key=finals.get) == "batch 100 (all)", finals
    # EarlyStopping stopped early and restored the best epoch's weights.
    assert v["epochs_run"] < v["long_epochs"]
    assert v["restored_val_loss"] == pytest.approx(min(v["stopped_val_losses"]), abs=1e-4)
