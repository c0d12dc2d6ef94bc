"""What every explorer shares: controls above a text readout and a figure redrawn on each move.

The figure is a plain matplotlib ``Figure`` on the Agg canvas, encoded as PNG into an ``<img>``
with alternative text, rather than an interactive backend such as ipympl. A move changes a few
artists and re-encodes one small image, which stays well under 100 ms (``benchmarks/
explorer_speed.py``); it needs no front-end extension beyond ipywidgets, which the quiz already
needs; and the very same PNG is what a notebook without a live kernel shows (see
:meth:`Explorer._repr_mimebundle_`).
"""

from __future__ import annotations

import abc
import base64
import html
import io
from typing import Any

import ipywidgets as widgets
import PIL.Image
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

# Low enough to keep each PNG small and quick to encode, high enough for axis labels to read.
DPI = 80


class Explorer(abc.ABC):
    """Controls, a readout and a figure; subclasses say what to draw for the current controls.

    Subclasses build their artists once in ``__init__`` (after calling this constructor), then
    call :meth:`refresh`; :meth:`redraw` updates those artists for the current control values
    and returns the texts that describe them.
    """

    def __init__(self, controls: list[widgets.Widget], figsize: tuple[float, float]) -> None:
        """Lay out the controls, an empty readout and an empty image.

        Args:
            controls: The widgets a learner moves; each one's change redraws the explorer.
            figsize: Size of the figure in inches.
        """
        self.controls = controls
        self.figure = Figure(figsize=figsize, dpi=DPI, layout="constrained")
        FigureCanvasAgg(self.figure)
        # A status region, so a screen reader hears the new figures after each move.
        self.readout = widgets.HTML()
        self.image = widgets.HTML()
        self.png = b""
        self._dynamic: list[Artist] = []
        self._background: Any = None
        self.summary = ""
        self.widget = widgets.VBox([*controls, self.readout, self.image])
        self.widget.add_class("kc-explorer")  # for the page's tests and style sheets
        for control in controls:
            control.observe(self._on_change, names="value")

    @abc.abstractmethod
    def redraw(self) -> tuple[str, str]:
        """Update the figure's artists for the current control values.

        Returns:
            ``(summary, alt)``: the readout's text and the figure's alternative text.
        """

    def _on_change(self, _change: dict[str, Any]) -> None:
        self.refresh()

    def animate(self, *artists: Artist) -> None:
        """Mark artists as the ones a move changes; everything else is drawn once.

        Args:
            artists: Lines, texts, images or patches that :meth:`redraw` updates.
        """
        for artist in artists:
            artist.set_animated(True)
            self._dynamic.append(artist)

    def invalidate(self) -> None:
        """Ask for a full redraw on the next refresh (after a change to axes, limits or ticks)."""
        self._background = None

    def refresh(self) -> None:
        """Redraw the figure and the readout for the current control values."""
        self.summary, alt = self.redraw()
        canvas = self.figure.canvas
        if self._background is None:
            # Axes, ticks, labels and fixed curves are most of a figure's drawing time, so
            # they are drawn once and kept as a bitmap (matplotlib's blitting); a move
            # restores it and draws only the artists marked with animate().
            canvas.draw()
            self._background = canvas.copy_from_bbox(self.figure.bbox)
            if self.figure.get_layout_engine() is not None:
                # Constrained layout placed the axes on that first draw; solving it again on
                # every move would cost more than the move, and nothing changes size.
                self.figure.set_layout_engine("none")
        canvas.restore_region(self._background)
        for artist in self._dynamic:
            if artist.get_visible():
                self.figure.draw_artist(artist)
        width, height = canvas.get_width_height()
        pixels = PIL.Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba())
        buffer = io.BytesIO()
        # The fastest zlib level: these flat-coloured figures compress well at any level.
        pixels.save(buffer, format="PNG", compress_level=1)
        self.png = buffer.getvalue()
        encoded = base64.b64encode(self.png).decode("ascii")
        self.readout.value = (
            f'<p role="status" aria-live="polite">{html.escape(self.summary)}</p>'
        )
        self.image.value = (
            f'<img src="data:image/png;base64,{encoded}" alt="{html.escape(alt)}" '
            'style="max-width: 100%">'
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The live widget, with the current figure as PNG and the readout as text beside it.

        A display bundle carries every representation at once and each front end picks the
        richest one it can render: JupyterLab with a live kernel shows the widget; nbconvert,
        nbclient runs in CI, GitHub and other rendered pages have no widget state and fall back
        to the PNG (and a terminal to the text). One output, so a live notebook never shows the
        figure twice and a static one never shows a dead widget alone.

        Args:
            kwargs: Passed on to the widget's own bundle (``include``/``exclude``).

        Returns:
            The MIME bundle.
        """
        bundle = self.widget._repr_mimebundle_(**kwargs) or {}
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data = dict(data)
        data["image/png"] = base64.b64encode(self.png).decode("ascii")
        data["text/plain"] = self.summary
        return data

    def show(self) -> None:
        """Display the explorer (the widget, and its figure for pages without a kernel)."""
        from IPython.display import display

        display(self)

