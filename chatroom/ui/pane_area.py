"""PaneArea: lays reply panes out as columns, a grid or tabs, or one maximised.

The area arranges widgets it is given and owns none of them. A re-layout
parks every pane on a hidden widget and places it again; reparenting keeps a
QTextBrowser's document, and the scroll positions are put back as fractions,
since each pane's width (and so its text's height) changes with the layout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QApplication,
    QFrame,
    QGridLayout,
    QScrollArea,
    QScrollBar,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

__all__ = ["MIN_COLUMN_WIDTH_PX", "MODES", "PaneArea"]

MODES: Final = ("columns", "grid", "tabs")
#: In "columns" mode, the area scrolls sideways rather than squeeze a pane below this.
MIN_COLUMN_WIDTH_PX: Final = 260
# How long after a re-layout scroll positions are re-applied as the scroll
# ranges change: Qt lays a long document out lazily, over several event loop
# turns, so the range keeps growing for a while after the resize.
_SETTLE_MS: Final = 500


class PaneArea(QWidget):
    """Shows a list of panes side by side, in a grid or as tabs; one can fill the area.

    The caller owns the panes: one that `set_panes` no longer lists is given
    back with no parent, never deleted. Call `set_panes` before deleting a pane.

    Signals:
        mode_changed(str): the layout mode changed; carries "columns", "grid" or "tabs".
        maximised_changed(object): a pane now fills the area (carries it), or the
            area went back to the layout (carries None).
    """

    mode_changed = Signal(str)
    maximised_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._panes: list[QWidget] = []
        self._placed: list[QWidget] = []  # the panes now sitting in a container
        self._areas: list[QAbstractScrollArea] = []  # the views kept and synced
        self._bars: list[QScrollBar] = []  # their vertical scroll bars
        self._mode = "columns"
        self._maximised: QWidget | None = None
        self._is_synced = False
        self._is_syncing = False  # our own setValue calls must not sync again
        self._pending: dict[QScrollBar, float] = {}  # fractions to put back after a re-layout
        self._column_sizes: list[int] | None = None  # the user's column widths
        self._settle_timer = QTimer(self)
        self._settle_timer.setSingleShot(True)
        self._settle_timer.setInterval(_SETTLE_MS)
        self._settle_timer.timeout.connect(self.on_settle_timer_timeout)
        self._parking = QWidget(self)
        self._parking.hide()
        self._build_pages()

    def _build_pages(self) -> None:
        self._splitter = QSplitter(Qt.Orientation.Horizontal)
        self._splitter.setChildrenCollapsible(False)
        self._columns = QScrollArea()
        self._columns.setFrameShape(QFrame.Shape.NoFrame)
        self._columns.setWidgetResizable(True)
        self._columns.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._columns.setWidget(self._splitter)
        self._grid_page = QWidget()
        self._grid = QGridLayout(self._grid_page)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(6)
        self._build_tabs()
        self._max_page = QWidget()
        self._max_layout = QVBoxLayout(self._max_page)
        self._max_layout.setContentsMargins(0, 0, 0, 0)
        self._stack = QStackedWidget()
        for page in (self._columns, self._grid_page, self._tabs, self._max_page):
            self._stack.addWidget(page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._stack)

    def _build_tabs(self) -> None:
        self._tabs = QTabWidget()
        self._tabs.setDocumentMode(True)
        self._tabs.currentChanged.connect(self.on_tabs_current_changed)
        # QTabWidget switches on Ctrl+PgUp/PgDown only when the key reaches it,
        # and a focused QTextBrowser keeps the key for itself.
        self._next_tab_shortcut = self._tab_shortcut("Ctrl+PgDown")
        self._next_tab_shortcut.activated.connect(self.on_next_tab_shortcut_activated)
        self._previous_tab_shortcut = self._tab_shortcut("Ctrl+PgUp")
        self._previous_tab_shortcut.activated.connect(self.on_previous_tab_shortcut_activated)

    def _tab_shortcut(self, keys: str) -> QShortcut:
        shortcut = QShortcut(QKeySequence(keys), self._tabs)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        return shortcut

    # -- public API -------------------------------------------------------

    def panes(self) -> list[QWidget]:
        """The panes shown, in order."""
        return list(self._panes)

    def set_panes(
        self, panes: Sequence[QWidget], scroll_areas: Sequence[QAbstractScrollArea] | None = None
    ) -> None:
        """Show these panes in this order.

        `scroll_areas` are the views whose positions are kept and synced; by
        default each pane's first QAbstractScrollArea (a ReplyPane's view).
        """
        new = list(panes)
        dropped = [pane for pane in self._placed if pane not in new]
        if new != self._panes:
            self._column_sizes = None  # widths of other columns mean nothing now
        was_maximised = self._maximised
        if self._maximised not in new:
            self._maximised = None
        self._panes = new
        areas = scroll_areas if scroll_areas is not None else _first_scroll_areas(new)
        self._set_scroll_areas(areas)
        self._lay_out()
        for pane in dropped:
            pane.setParent(None)  # back to the caller, as documented
        if self._maximised is not was_maximised:
            self.maximised_changed.emit(None)

    def mode(self) -> str:
        """"columns", "grid" or "tabs": the layout shown when no pane is maximised."""
        return self._mode

    def set_mode(self, mode: str) -> None:
        """Lay the panes out as "columns", a "grid" or "tabs"; a maximised pane goes back."""
        if mode not in MODES:
            raise ValueError(f"unknown pane layout {mode!r}; expected one of {', '.join(MODES)}")
        was_maximised = self._maximised is not None
        if mode == self._mode and not was_maximised:
            return
        changed = mode != self._mode
        self._mode = mode
        self._maximised = None
        self._lay_out()
        if was_maximised:
            self.maximised_changed.emit(None)
        if changed:
            self.mode_changed.emit(mode)

    def maximised(self) -> QWidget | None:
        """The pane filling the area, or None."""
        return self._maximised

    def toggle_maximised(self, pane: QWidget) -> None:
        """Let `pane` fill the area; if it already does, go back to the layout."""
        if pane not in self._panes:
            raise ValueError("toggle_maximised: the pane is not in this area")
        self._maximised = None if pane is self._maximised else pane
        self._lay_out()
        self.maximised_changed.emit(self._maximised)

    def restore(self) -> None:
        """Go back from a maximised pane to the layout; nothing if none is maximised."""
        if self._maximised is not None:
            self.toggle_maximised(self._maximised)

    def is_synced(self) -> bool:
        """Whether scrolling one pane scrolls the others."""
        return self._is_synced

    def set_synced_scrolling(self, on: bool) -> None:
        """Scroll every pane to the same relative position as the one scrolled."""
        self._is_synced = on

    def refresh_labels(self) -> None:
        """Take the tab texts again from the panes' accessible names (after a relabelling)."""
        for index, pane in enumerate(self._panes):
            tab = self._tabs.indexOf(pane)
            if tab >= 0:
                self._tabs.setTabText(tab, _label(pane, index))

    # -- layout -----------------------------------------------------------

    def _lay_out(self) -> None:
        focus = QApplication.focusWidget()
        if focus is not None and not self.isAncestorOf(focus):
            focus = None
        if focus is not None:
            # Else Qt hands focus to the next widget as each pane leaves, and
            # the column scroller jumps sideways to show it.
            focus.clearFocus()
        current_tab = self._tabs.currentWidget()
        self._remember_scroll(self._bars)
        self._park()
        if self._maximised is not None:
            self._max_layout.addWidget(self._maximised)
            self._maximised.show()
            self._stack.setCurrentWidget(self._max_page)
        elif self._mode == "columns":
            self._place_columns()
        elif self._mode == "grid":
            self._place_grid()
        else:
            self._place_tabs(current_tab)
        self._placed = [self._maximised] if self._maximised is not None else list(self._panes)
        self._put_scroll_back()
        if focus is not None:
            self._restore_focus(focus)

    def _restore_focus(self, focus: QWidget) -> None:
        """Focus what had it if still shown, else the first view shown (never nothing)."""
        for widget in [focus, *self._areas]:
            if widget.isVisibleTo(self):
                widget.setFocus()
                return

    def _park(self) -> None:
        """Take every pane out of its container; reparenting removes it from splitter, tab or grid."""
        if self._stack.currentWidget() is self._columns and len(self._placed) == self._splitter.count():
            self._column_sizes = self._splitter.sizes()
        self._tabs.blockSignals(True)  # tabs vanishing one by one are no user's tab change
        for pane in self._placed + self._panes:
            pane.setParent(self._parking)
        self._tabs.blockSignals(False)

    def _place_columns(self) -> None:
        for pane in self._panes:
            self._splitter.addWidget(pane)
            pane.show()
        count = len(self._panes)
        for index in range(count):
            self._splitter.setStretchFactor(index, 1)
        handles_px = max(count - 1, 0) * self._splitter.handleWidth()
        self._splitter.setMinimumWidth(count * MIN_COLUMN_WIDTH_PX + handles_px)
        sizes = self._column_sizes
        # Equal widths unless the user had set some for these same panes.
        self._splitter.setSizes(sizes if sizes and len(sizes) == count else [1000] * count)
        self._stack.setCurrentWidget(self._columns)

    def _place_grid(self) -> None:
        count = len(self._panes)
        # 1-3 in one row, 4 as 2x2, then two rows: 5-6 as 3x2, 7-8 as 4x2.
        columns = max(1, count if count <= 3 else math.ceil(count / 2))
        rows = max(1, math.ceil(count / columns))
        for index, pane in enumerate(self._panes):
            self._grid.addWidget(pane, index // columns, index % columns)
            pane.show()
        # The grid keeps the rows and columns it ever had; unused ones get no space.
        for column in range(self._grid.columnCount()):
            self._grid.setColumnStretch(column, 1 if column < columns else 0)
        for row in range(self._grid.rowCount()):
            self._grid.setRowStretch(row, 1 if row < rows else 0)
        self._stack.setCurrentWidget(self._grid_page)

    def _place_tabs(self, current: QWidget | None) -> None:
        self._tabs.blockSignals(True)
        for index, pane in enumerate(self._panes):
            self._tabs.addTab(pane, _label(pane, index))
            self._tabs.setTabToolTip(index, "Ctrl+PgUp / Ctrl+PgDown switch tabs")
        if current in self._panes:
            self._tabs.setCurrentWidget(current)
        self._tabs.blockSignals(False)
        self._stack.setCurrentWidget(self._tabs)

    # -- scrolling --------------------------------------------------------

    def _set_scroll_areas(self, areas: Sequence[QAbstractScrollArea]) -> None:
        for bar in self._bars:
            try:
                bar.valueChanged.disconnect(self.on_scroll_bar_value_changed)
                bar.rangeChanged.disconnect(self.on_scroll_bar_range_changed)
                bar.actionTriggered.disconnect(self.on_scroll_bar_action_triggered)
            except RuntimeError:  # the caller already deleted its pane
                pass
        self._pending.clear()
        self._areas = list(areas)
        self._bars = [area.verticalScrollBar() for area in areas]
        for bar in self._bars:
            bar.valueChanged.connect(self.on_scroll_bar_value_changed)
            bar.rangeChanged.connect(self.on_scroll_bar_range_changed)
            bar.actionTriggered.connect(self.on_scroll_bar_action_triggered)

    def _remember_scroll(self, bars: Sequence[QScrollBar]) -> None:
        for bar in bars:
            if bar.maximum() > bar.minimum():  # a bar with nowhere to go has no position to keep
                self._pending[bar] = _fraction(bar)
        self._settle_timer.start()

    def _put_scroll_back(self) -> None:
        for bar, fraction in list(self._pending.items()):
            self._set_fraction(bar, fraction)

    def _set_fraction(self, bar: QScrollBar, fraction: float) -> None:
        self._is_syncing = True
        try:
            bar.setValue(bar.minimum() + round(fraction * (bar.maximum() - bar.minimum())))
        finally:
            self._is_syncing = False

    @Slot(int)
    def on_scroll_bar_value_changed(self, value: int) -> None:
        source = self.sender()
        if not self._is_synced or self._is_syncing or not isinstance(source, QScrollBar):
            return
        if source in self._pending or source.maximum() <= source.minimum():
            return  # a re-layout moved it, not the user
        fraction = _fraction(source)
        for bar in self._bars:
            if bar is not source:
                self._set_fraction(bar, fraction)

    @Slot(int, int)
    def on_scroll_bar_range_changed(self, low: int, high: int) -> None:
        bar = self.sender()
        if isinstance(bar, QScrollBar) and bar in self._pending:
            self._set_fraction(bar, self._pending[bar])

    @Slot(int)
    def on_scroll_bar_action_triggered(self, action: int) -> None:
        bar = self.sender()
        if isinstance(bar, QScrollBar):
            self._pending.pop(bar, None)  # the user scrolls: their position wins

    @Slot()
    def on_settle_timer_timeout(self) -> None:
        self._pending.clear()

    @Slot()
    def on_next_tab_shortcut_activated(self) -> None:
        self._step_tab(1)

    @Slot()
    def on_previous_tab_shortcut_activated(self) -> None:
        self._step_tab(-1)

    def _step_tab(self, step: int) -> None:
        if self._tabs.count() > 1:  # wraps around, as QTabWidget's own keys do
            self._tabs.setCurrentIndex((self._tabs.currentIndex() + step) % self._tabs.count())

    @Slot(int)
    def on_tabs_current_changed(self, index: int) -> None:
        # A tab hidden while the area was resized gets its new width only now.
        pane = self._tabs.widget(index)
        if pane is not None:
            self._remember_scroll([bar for bar in self._bars if pane.isAncestorOf(bar)])


def _fraction(bar: QScrollBar) -> float:
    span = bar.maximum() - bar.minimum()
    return (bar.value() - bar.minimum()) / span if span > 0 else 0.0


def _label(pane: QWidget, index: int) -> str:
    return pane.accessibleName() or pane.windowTitle() or f"Pane {index + 1}"


def _first_scroll_areas(panes: Sequence[QWidget]) -> list[QAbstractScrollArea]:
    areas: list[QAbstractScrollArea] = []
    for pane in panes:
        area = pane if isinstance(pane, QAbstractScrollArea) else pane.findChild(QAbstractScrollArea)
        if area is not None:
            areas.append(area)
    return areas
