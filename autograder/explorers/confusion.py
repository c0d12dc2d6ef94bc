"""The confusion-matrix explorer (lesson 4): pick a cell, see the images that landed in it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.patches import Rectangle
from sklearn.metrics import confusion_matrix

from autograder.explorers.base import Explorer
from autograder.explorers.controls import choice
from autograder.explorers.state import misclassified_rows


class ConfusionExplorer(Explorer):
    """Two drop-downs (true class, predicted class) over a confusion matrix and its images.

    Attributes:
        true_class: The control for the matrix row.
        predicted_class: The control for the matrix column.
        matrix: The confusion matrix, true classes in rows as in scikit-learn.
    """

    def __init__(
        self, y_true: np.ndarray, y_pred: np.ndarray, images: np.ndarray,
        probabilities: np.ndarray | None = None, class_names: Sequence[str] | None = None,
        columns: int = 8, rows: int = 2,
    ) -> None:
        """Start on the most frequent mistake and draw its images.

        Args:
            y_true: True class of each row (integers from 0).
            y_pred: Predicted class of each row.
            images: One image per row, ``(rows, height, width)`` or with a trailing channel.
            probabilities: Optional predicted probabilities, ``(rows, classes)``: the images
                then come most confident first and each is titled with its probability.
            class_names: Display names of the classes; by default their numbers.
            columns: Images per row of the grid.
            rows: Rows of images shown at most.
        """
        self.y_true = np.asarray(y_true).ravel().astype(int)
        self.y_pred = np.asarray(y_pred).ravel().astype(int)
        self.images = np.asarray(images)
        self.probabilities = None if probabilities is None else np.asarray(probabilities)
        classes = int(max(self.y_true.max(), self.y_pred.max())) + 1
        self.class_names = [str(c) for c in (class_names or range(classes))]
        self.matrix = confusion_matrix(self.y_true, self.y_pred, labels=range(classes))
        mistakes = self.matrix - np.diag(np.diag(self.matrix))
        start_true, start_pred = np.unravel_index(mistakes.argmax(), mistakes.shape)
        options = [(name, index) for index, name in enumerate(self.class_names)]
        self.true_class = choice(options, int(start_true), "True class (matrix row)",
                                 kind="select")
        self.predicted_class = choice(options, int(start_pred), "Predicted class (matrix column)",
                                      kind="select")
        self.shown = columns * rows
        super().__init__([self.true_class, self.predicted_class], figsize=(11, 3.4))

        grid = self.figure.add_gridspec(rows, columns + 3)
        ax_matrix = self.figure.add_subplot(grid[:, :3])
        ax_matrix.imshow(np.where(mistakes > 0, mistakes, np.nan), cmap="Reds")
        for (row, col), count in np.ndenumerate(self.matrix):
            if count:
                ax_matrix.text(col, row, str(count), ha="center", va="center", fontsize=7,
                               color="grey" if row == col else "black")
        ax_matrix.set_xticks(range(classes), self.class_names, fontsize=7)
        ax_matrix.set_yticks(range(classes), self.class_names, fontsize=7)
        ax_matrix.set(xlabel="predicted", ylabel="true", title="Mistakes (diagonal: grey)")
        self._cell = Rectangle((0, 0), 1, 1, fill=False, edgecolor="black", linewidth=2.5)
        ax_matrix.add_patch(self._cell)
        blank = np.zeros(self.images.shape[1:3])
        self._tiles = []
        for index in range(self.shown):
            ax = self.figure.add_subplot(grid[index // columns, 3 + index % columns])
            ax.set_axis_off()
            tile = ax.imshow(blank, cmap="gray_r", interpolation="nearest",
                             vmin=float(self.images.min()), vmax=float(self.images.max()))
            self._tiles.append((ax, tile))
            # An empty title now, so the first draw keeps room for the probabilities.
            ax.set_title(" ", fontsize=8)
        self.animate(self._cell, *(artist for ax, image in self._tiles
                                   for artist in (image, ax.title)))
        self.refresh()

    def rows(self, true_class: int | None = None, predicted_class: int | None = None
             ) -> np.ndarray:
        """The rows of one cell (by default the chosen one), most confident first.

        Args:
            true_class: Matrix row; None for the drop-down's.
            predicted_class: Matrix column; None for the drop-down's.

        Returns:
            Row indices into the images.
        """
        return misclassified_rows(
            self.y_true, self.y_pred,
            self.true_class.value if true_class is None else true_class,
            self.predicted_class.value if predicted_class is None else predicted_class,
            self.probabilities,
        )

    def redraw(self) -> tuple[str, str]:
        """Outline the chosen cell and fill the grid with its first images.

        Returns:
            The readout text and the figure's alternative text.
        """
        true, predicted = self.true_class.value, self.predicted_class.value
        cell = self.rows()
        self._cell.set_xy((predicted - 0.5, true - 0.5))
        for position, (ax, image) in enumerate(self._tiles):
            visible = position < len(cell)
            image.set_visible(visible)
            ax.title.set_text("")
            if visible:
                row = cell[position]
                image.set_data(self.images[row].reshape(self.images.shape[1:3]))
                if self.probabilities is not None:
                    ax.title.set_text(f"{self.probabilities[row, predicted]:.0%}")
        true_name, predicted_name = self.class_names[true], self.class_names[predicted]
        kind = "correct answers" if true == predicted else "mistakes"
        shown = min(len(cell), self.shown)
        summary = (
            f"True {true_name}, predicted {predicted_name}: {len(cell)} {kind}"
            + (f", the first {shown} shown" if len(cell) else "")
            + (", most confident first (title: the model's probability of the predicted class)"
               if self.probabilities is not None and len(cell) else "") + "."
        )
        alt = (f"Confusion matrix with the cell true {true_name}, predicted {predicted_name} "
               f"outlined, and {shown} images of that cell.")
        return summary, alt
