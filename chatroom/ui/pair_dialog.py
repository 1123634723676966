"""PairDialog: choose the two seats whose latest replies to compare."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QWidget

__all__ = ["PairDialog"]


class PairDialog(QDialog):
    """Two combo boxes of seat labels, preset to the first two; OK needs two different seats."""

    def __init__(self, labels: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare two replies")
        self.left_combo = QComboBox()
        self.left_combo.setAccessibleName("Left reply")
        self.right_combo = QComboBox()
        self.right_combo.setAccessibleName("Right reply")
        for combo in (self.left_combo, self.right_combo):
            combo.addItems(list(labels))
            combo.currentIndexChanged.connect(self.on_combo_current_index_changed)
        self.right_combo.setCurrentIndex(1)
        self._problem = QLabel("")
        self._problem.setStyleSheet("color: #c53030;")
        self._buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self._buttons.accepted.connect(self.accept)
        self._buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Left:", self.left_combo)
        form.addRow("Right:", self.right_combo)
        form.addRow(self._problem)
        form.addRow(self._buttons)

    def pair(self) -> tuple[int, int]:
        return self.left_combo.currentIndex(), self.right_combo.currentIndex()

    @Slot(int)
    def on_combo_current_index_changed(self, _index: int) -> None:
        same = self.left_combo.currentIndex() == self.right_combo.currentIndex()
        self._problem.setText("Choose two different seats." if same else "")
        ok = self._buttons.button(QDialogButtonBox.StandardButton.Ok)
        if ok is not None:
            ok.setEnabled(not same)
