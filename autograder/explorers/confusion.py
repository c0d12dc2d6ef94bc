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
        super().__init__([self.true_class, self.predicted_class], figsize=(11, 3.8))

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
        # All tiles are one image (a mosaic, gaps left blank): one resampling per move instead
        # of one per tile, which is most of a move's drawing time.
        height, width = self.images.shape[1:3]
        self._columns, self._top = columns, max(2, height // 3)
        self._cell_size = (height + self._top, width + 1)
        self._pixels = np.full((rows * self._cell_size[0], columns * self._cell_size[1]), np.nan)
        ax_tiles = self.figure.add_subplot(grid[:, 3:])
        ax_tiles.set_axis_off()
        self._mosaic = ax_tiles.imshow(self._pixels, cmap="gray_r", interpolation="nearest",
                                       vmin=float(self.images.min()),
                                       vmax=float(self.images.max()))
        self._titles = [
            ax_tiles.text((index % columns) * self._cell_size[1] + width / 2,
                          (index // columns) * self._cell_size[0] + self._top - 1.0, "",
                          ha="center", va="bottom", fontsize=8)
            for index in range(self.shown)]
        self.animate(self._cell, self._mosaic, *self._titles)
        self.refresh()

    def tile(self, position: int) -> np.ndarray:
        """The pixels of one tile of the grid as drawn (NaN where it is empty).

        Args:
            position: Tile number, row by row from the top left.

        Returns:
            A ``(height, width)`` array.
        """
        row, column = divmod(position, self._columns)
        top = row * self._cell_size[0] + self._top
        left = column * self._cell_size[1]
        height, width = self.images.shape[1:3]
        return self._pixels[top:top + height, left:left + width]

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
        self._pixels[:] = np.nan
        for position, title in enumerate(self._titles):
            title.set_text("")
            if position < len(cell):
                row = cell[position]
                self.tile(position)[:] = self.images[row].reshape(self.images.shape[1:3])
                if self.probabilities is not None:
                    title.set_text(f"{self.probabilities[row, predicted]:.0%}")
        self._mosaic.set_data(self._pixels)
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
