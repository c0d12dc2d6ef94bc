"""The training-curve explorer (lesson 6): one knob's settings side by side, and early stopping.

Every curve comes from a History the lesson already recorded: choosing a setting or a patience
replays :func:`autograder.explorers.state.early_stop` on it and never trains again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from autograder.explorers.base import Explorer
from autograder.explorers.controls import Control, choice
from autograder.explorers.state import StopState, curve_group_state, monitored_curve

History = Mapping[str, Sequence[float]]


class TrainingExplorer(Explorer):
    """Pick a knob and one of its settings, and a patience; see the curves and where to stop.

    Attributes:
        knob: The control choosing a group of runs (learning rate, batch size, ...).
        setting: The control choosing one run of that group.
        patience: The patience of the replayed ``EarlyStopping``.
    """

    def __init__(self, groups: Mapping[str, Mapping[str, History]], patience: int = 5) -> None:
        """Draw the first run of the first group.

        Args:
            groups: Knob name -> (setting name -> History dictionary).
            patience: Where the patience slider starts.
        """
        self.groups = {knob: dict(runs) for knob, runs in groups.items()}
        first = next(iter(self.groups))
        self.knob = choice(list(self.groups), first, "Knob", kind="select")
        self.setting = choice(list(self.groups[first]), next(iter(self.groups[first])),
                              "Setting")
        self.patience = Control([(str(p), p) for p in range(1, 21)], patience,
                                "EarlyStopping patience (epochs)")
        super().__init__([self.knob, self.setting, self.patience], figsize=(11, 3.4))
        # Changing the knob replaces the setting's options, which fires the setting's own
        # change: the knob's handler swaps the options and redraws once.
        self.knob.unobserve(self._on_change, names="value")
        self.knob.observe(self._on_knob, names="value")
        # One pair of axes per knob, drawn once and kept as a bitmap each: a new knob then
        # swaps bitmaps instead of redrawing axes, ticks and labels (a second or more).
        self.figure.set_layout_engine("none")
        self._panels = {knob: self._build(knob) for knob in self.groups}
        self._backgrounds: dict[str, object] = {}
        for knob in self.groups:
            self._show(knob)
            self.figure.canvas.draw()
            self._backgrounds[knob] = self.figure.canvas.copy_from_bbox(self.figure.bbox)
        self._show(first)
        self.refresh()

    def _build(self, knob: str) -> dict[str, object]:
        """Draw the hidden axes of one knob's group, every run's lines ready to be updated.

        Limits cover every run of the group, so choosing a setting or a patience only moves
        lines.

        Returns:
            The panel's artists by role.
        """
        runs = self.groups[knob]
        ax_all = self.figure.add_axes((0.07, 0.16, 0.39, 0.72))
        ax_run = self.figure.add_axes((0.57, 0.16, 0.39, 0.72))
        key, _ = monitored_curve(next(iter(runs.values())))
        lines = {}
        for name, run in runs.items():
            _, values = monitored_curve(run)
            lines[name], = ax_all.plot(range(1, len(values) + 1), values, label=name)
        ax_all.set(yscale="log", xlabel="epoch", ylabel=f"{key} (log scale)",
                   title=f"{knob}: every setting")
        ax_all.legend(fontsize=8)
        longest = max(len(run["loss"]) for run in runs.values())
        every = [value for run in runs.values() for curve in ("loss", "val_loss")
                 for value in run.get(curve, [])]
        train, = ax_run.plot([], [], label="train loss")
        val, = ax_run.plot([], [], label="validation loss")
        best = ax_run.axvline(1, color="tab:green", linestyle=":", label=f"lowest {key}")
        stop = ax_run.axvline(1, color="tab:red", linestyle="--",
                              label="EarlyStopping stops here")
        ax_run.set(yscale="log", xlabel="epoch", ylabel="loss (log scale)",
                   xlim=(0.5, longest + 0.5), ylim=(min(every) / 1.5, max(every) * 1.5))
        title = ax_run.set_title(" ")
        ax_run.legend(fontsize=8, loc="upper right")
        self._dynamic = []
        self.animate(*lines.values(), train, val, best, stop, title)
        for ax in (ax_all, ax_run):
            ax.set_visible(False)
        return {"axes": (ax_all, ax_run), "lines": lines, "train": train, "val": val,
                "best": best, "stop": stop, "title": title, "dynamic": self._dynamic}

    def _show(self, knob: str) -> None:
        """Make one knob's axes the visible ones, with their artists and their bitmap."""
        for name, panel in self._panels.items():
            for ax in panel["axes"]:
                ax.set_visible(name == knob)
        panel = self._panels[knob]
        self._lines, self._train_line, self._val_line = (panel["lines"], panel["train"],
                                                         panel["val"])
        self._best_line, self._stop_line, self._run_title = (panel["best"], panel["stop"],
                                                             panel["title"])
        self._dynamic = panel["dynamic"]
        self._background = self._backgrounds.get(knob)

    def refresh(self) -> None:
        """Redraw as every explorer does, and keep the knob's bitmap for the next time."""
        super().refresh()
        self._backgrounds[self.knob.value] = self._background

    def _on_knob(self, change: dict[str, str]) -> None:
        self.setting.unobserve(self._on_change, names="value")
        self.setting.set_options([(name, name) for name in self.groups[change["new"]]])
        self.setting.observe(self._on_change, names="value")
        self._show(change["new"])
        self.refresh()

    def state(self) -> dict[str, StopState]:
        """Early stopping replayed on every run of the chosen knob, the chosen setting first.

        Returns:
            Setting name -> where EarlyStopping would stop that run.
        """
        return curve_group_state(self.groups[self.knob.value], self.setting.value,
                                 self.patience.value)

    def redraw(self) -> tuple[str, str]:
        """Bring out the chosen setting and mark where early stopping ends it.

        Returns:
            The readout text and the figure's alternative text.
        """
        runs, chosen = self.groups[self.knob.value], self.setting.value
        stop = self.state()[chosen]
        for name, line in self._lines.items():
            line.set_linewidth(2.8 if name == chosen else 1.0)
            line.set_alpha(1.0 if name == chosen else 0.45)
        run = runs[chosen]
        key, monitored = monitored_curve(run)
        epochs = np.arange(1, len(run["loss"]) + 1)
        self._train_line.set_data(epochs, run["loss"])
        if "val_loss" in run:
            self._val_line.set_data(epochs, run["val_loss"])
        else:
            self._val_line.set_data([], [])
        self._best_line.set_xdata([stop.best_epoch] * 2)
        self._stop_line.set_visible(stop.stopped_epoch is not None)
        self._stop_line.set_xdata([stop.stopped_epoch or 1] * 2)
        self._run_title.set_text(chosen)

        where = (f"EarlyStopping on {key} with patience {stop.patience} stops after epoch "
                 f"{stop.stopped_epoch} of {len(epochs)}" if stop.stopped_epoch is not None
                 else f"EarlyStopping on {key} with patience {stop.patience} never stops "
                      f"within the {len(epochs)} epochs")
        summary = (f"{self.knob.value}, {chosen}: {where}, keeping epoch {stop.best_epoch} "
                   f"({key} {monitored[stop.best_epoch - 1]:.3f}); final training loss "
                   f"{run['loss'][-1]:.3f}.")
        alt = (f"Left: {key} of every {self.knob.value} setting by epoch, {chosen} in bold. "
               f"Right: the loss curves of {chosen}, with its best epoch {stop.best_epoch}"
               + (f" and its stopping epoch {stop.stopped_epoch}" if stop.stopped_epoch else "")
               + " marked.")
        return summary, alt
