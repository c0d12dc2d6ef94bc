"""The explorers' controls: native, labelled HTML form elements on an anywidget.

ipywidgets' sliders draw a ``noUiSlider`` handle with ``role="slider"`` and no accessible name
(its ``description`` label is not tied to the handle), which axe-core reports as a serious
violation; a screen reader would announce "slider" and a number. A native ``<input
type="range">`` or ``<select>`` with a ``<label for>`` is named, focusable and operated with the
arrow keys, Home, End and Page Up/Down by the browser itself, and ``aria-valuetext`` lets it
speak the value as the readout writes it ("0.35", "balanced (1 : 49)") instead of an index.

A control holds a list of ``(label, value)`` options; the page syncs the index, Python exposes
``value``, observed like an ipywidgets control (``observe(handler, names="value")``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anywidget
import numpy as np
import traitlets

_ESM = """
let counter = 0;
function render({ model, el }) {
  const id = `kc-control-${Date.now().toString(36)}-${counter++}`;
  const row = document.createElement("div");
  row.className = "kc-control";
  // Keys typed here go to the control (arrow keys move the slider), not to the notebook's
  // command-mode shortcuts, which would move between cells; Tab and Escape still leave it.
  row.setAttribute("data-lm-suppress-shortcuts", "true");
  row.addEventListener("keydown", (event) => {
    if (event.key !== "Tab" && event.key !== "Escape") event.stopPropagation();
  });
  const label = document.createElement("label");
  label.htmlFor = id;
  const kind = model.get("kind");
  const input = document.createElement(kind === "select" ? "select" : "input");
  input.id = id;
  if (kind !== "select") {
    input.type = "range";
    input.min = "0";
    input.step = "1";
  }
  // The value as text beside a slider; hidden from screen readers, which hear aria-valuetext.
  const shown = document.createElement("span");
  shown.setAttribute("aria-hidden", "true");
  const sync = () => {
    const labels = model.get("labels");
    const index = model.get("index");
    label.textContent = model.get("description");
    if (kind === "select") {
      if (input.options.length !== labels.length) {
        input.replaceChildren(...labels.map((text, i) => new Option(text, String(i))));
      }
      input.value = String(index);
    } else {
      input.max = String(labels.length - 1);
      input.value = String(index);
      input.setAttribute("aria-valuetext", labels[index] ?? "");
      shown.textContent = labels[index] ?? "";
    }
  };
  input.addEventListener(kind === "select" ? "change" : "input", () => {
    model.set("index", Number(input.value));
    model.save_changes();
  });
  model.on("change:index", sync);
  model.on("change:labels", sync);
  model.on("change:description", sync);
  sync();
  row.append(label, input);
  if (kind !== "select") row.append(shown);
  el.append(row);
}
export default { render };
"""

# JupyterLab's own theme variables, so text keeps its contrast in the light and dark themes; the
# browser's focus ring is kept (never outline: none).
_CSS = """
.kc-control { display: flex; align-items: center; gap: 0.75em; margin: 0.25em 0;
              color: var(--jp-ui-font-color1); font-size: var(--jp-ui-font-size1); }
.kc-control label { min-width: 16em; }
.kc-control input[type=range] { width: min(22em, 50vw); accent-color: var(--jp-brand-color1); }
.kc-control select { color: var(--jp-ui-font-color1); background: var(--jp-layout-color1);
                     border: 1px solid var(--jp-border-color1); padding: 0.1em 0.3em; }
.kc-control input:focus-visible, .kc-control select:focus-visible {
  outline: 2px solid var(--jp-brand-color1); outline-offset: 2px; }
"""


class Control(anywidget.AnyWidget):
    """A labelled choice among options, drawn as a range slider or a drop-down.

    Attributes:
        description: The control's visible label and accessible name (always plain text).
        labels: What each option reads as, on the page and to a screen reader.
        index: The chosen option (synced with the page).
        kind: ``"range"`` or ``"select"``.
    """

    _esm = _ESM
    _css = _CSS
    description = traitlets.Unicode("").tag(sync=True)
    labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    index = traitlets.Int(0).tag(sync=True)
    kind = traitlets.Unicode("range").tag(sync=True)
    value = traitlets.Any()
    # Like ipywidgets' own flag: the description is never read as HTML (the page sets it with
    # textContent).
    description_allow_html = False

    def __init__(self, options: Sequence[tuple[str, Any]], value: Any, description: str,
                 kind: str = "range") -> None:
        """Choose ``value`` (or the option nearest to it) among ``options``.

        Args:
            options: ``(label, value)`` pairs in order.
            value: The value to start on.
            description: The label.
            kind: ``"range"`` for a slider, ``"select"`` for a drop-down.
        """
        self._values = [option for _, option in options]
        super().__init__(description=description, labels=[label for label, _ in options],
                         kind=kind, index=self._index_of(value))
        self.value = self._values[self.index]

    @property
    def options(self) -> list[Any]:
        """The values of the options, in order."""
        return list(self._values)

    def set_options(self, options: Sequence[tuple[str, Any]]) -> None:
        """Replace the options and choose the first, notifying observers of ``value`` once.

        Args:
            options: The new ``(label, value)`` pairs.
        """
        self._values = [option for _, option in options]
        with self.hold_trait_notifications():
            self.labels = [label for label, _ in options]
            self.index = 0
        self.value = self._values[0]

    def _index_of(self, value: Any) -> int:
        if value in self._values:
            return self._values.index(value)
        if all(isinstance(v, (int, float)) for v in self._values) and isinstance(
                value, (int, float)):
            # A number between two options goes to the nearest one, as a slider's step would.
            return int(np.argmin([abs(v - value) for v in self._values]))
        raise ValueError(f"{value!r} is not one of the options: {self._values}")

    @traitlets.validate("value")
    def _snap(self, proposal: dict[str, Any]) -> Any:
        return self._values[self._index_of(proposal["value"])]

    @traitlets.observe("value")
    def _value_to_index(self, change: dict[str, Any]) -> None:
        self.index = self._index_of(change["new"])

    @traitlets.observe("index")
    def _index_to_value(self, change: dict[str, Any]) -> None:
        self.value = self._values[change["new"]]


def number_slider(values: Sequence[float], value: float, description: str,
                  fmt: str = ".2f") -> Control:
    """A slider over a grid of numbers, each read as text with ``fmt``.

    Args:
        values: The grid, in order.
        value: Where to start (snapped to the nearest grid value).
        description: The label.
        fmt: Format of each value's label.

    Returns:
        The control.
    """
    return Control([(format(float(v), fmt), float(v)) for v in values], value, description)


def choice(options: Sequence[str] | Sequence[tuple[str, Any]], value: Any, description: str,
           kind: str = "range") -> Control:
    """A slider or drop-down over named options.

    Args:
        options: Names (each its own value) or ``(label, value)`` pairs.
        value: The value to start on.
        description: The label.
        kind: ``"range"`` or ``"select"``.

    Returns:
        The control.
    """
    pairs = [o if isinstance(o, tuple) else (str(o), o) for o in options]
    return Control(pairs, value, description, kind=kind)
