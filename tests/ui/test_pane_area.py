"""PaneArea: columns, grid, tabs, maximise, synced scrolling; panes survive every move."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QScrollBar, QTabWidget, QTextBrowser, QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from chatroom.ui.pane_area import MIN_COLUMN_WIDTH_PX, PaneArea

pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")


class FakePane(QFrame):
    """A pane like ReplyPane: a header and a long scrollable text."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.setAccessibleName(f"Seat {index}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.view = QTextBrowser()
        self.text = "\n".join(f"Line {line} from seat {index}" for line in range(100 + 60 * index))
        self.view.setPlainText(self.text)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"<b>Seat {index}</b>"))
        layout.addWidget(self.view, 1)

    @property
    def bar(self) -> QScrollBar:
        return self.view.verticalScrollBar()


AreaFactory = Callable[[int], tuple[PaneArea, list[FakePane]]]


@pytest.fixture
def make_area(qtbot: QtBot) -> AreaFactory:
    def make(count: int) -> tuple[PaneArea, list[FakePane]]:
        area = PaneArea()
        qtbot.addWidget(area)
        panes = [FakePane(index) for index in range(count)]
        for pane in panes:
            qtbot.addWidget(pane)  # the test owns them, as MainWindow would
        area.set_panes(panes)
        area.resize(1200, 700)
        area.show()
        qtbot.waitExposed(area)
        return area, panes

    return make


def position(area: PaneArea, pane: QWidget) -> tuple[int, int]:
    point = pane.mapTo(area, QPoint(0, 0))
    return point.x(), point.y()


def columns_scroller(area: PaneArea) -> QScrollArea:
    scroller = area.findChild(QScrollArea)
    assert scroller is not None
    return scroller


def fraction(bar: QScrollBar) -> float:
    return bar.value() / bar.maximum()


@pytest.mark.parametrize("count", range(1, 9))
def test_columns_show_every_pane_in_one_row_in_order(make_area: AreaFactory, count: int) -> None:
    area, panes = make_area(count)
    assert area.mode() == "columns"
    assert all(pane.isVisible() for pane in panes)
    places = [position(area, pane) for pane in panes]
    assert len({y for _, y in places}) == 1
    assert [x for x, _ in places] == sorted({x for x, _ in places})


def test_many_columns_scroll_sideways_rather_than_squeeze(make_area: AreaFactory) -> None:
    area, panes = make_area(8)
    area.resize(1000, 600)
    assert all(pane.width() >= MIN_COLUMN_WIDTH_PX - 10 for pane in panes)
    assert sum(pane.width() for pane in panes) > area.width()
    columns_bar = columns_scroller(area).horizontalScrollBar()
    assert columns_bar.isVisible() and columns_bar.maximum() > 0


def test_few_columns_fill_the_width(make_area: AreaFactory) -> None:
    area, panes = make_area(3)
    assert not columns_scroller(area).horizontalScrollBar().isVisible()
    assert sum(pane.width() for pane in panes) > area.width() * 0.95
    assert max(p.width() for p in panes) - min(p.width() for p in panes) <= 2


@pytest.mark.parametrize(
    ("count", "columns", "rows"),
    [(1, 1, 1), (2, 2, 1), (3, 3, 1), (4, 2, 2), (5, 3, 2), (6, 3, 2), (7, 4, 2), (8, 4, 2)],
)
def test_grid_shapes(make_area: AreaFactory, count: int, columns: int, rows: int, qtbot: QtBot) -> None:
    area, panes = make_area(count)
    with qtbot.waitSignal(area.mode_changed) as signal:
        area.set_mode("grid")
    assert signal.args == ["grid"]
    qtbot.waitUntil(lambda: all(pane.isVisible() for pane in panes))
    places = [position(area, pane) for pane in panes]
    assert len({x for x, _ in places}) == columns
    assert len({y for _, y in places}) == rows
    row_major = sorted(range(count), key=lambda index: (places[index][1], places[index][0]))
    assert row_major == list(range(count))


def test_tabs_carry_the_pane_names_and_switch_with_ctrl_page_down(make_area: AreaFactory, qtbot: QtBot) -> None:
    area, panes = make_area(4)
    area.set_mode("tabs")
    tabs = area.findChild(QTabWidget)
    assert tabs is not None
    assert [tabs.tabText(index) for index in range(tabs.count())] == ["Seat 0", "Seat 1", "Seat 2", "Seat 3"]
    qtbot.waitUntil(panes[0].isVisible)
    assert [pane.isVisible() for pane in panes] == [True, False, False, False]
    area.activateWindow()  # shortcuts work in the active window only
    qtbot.waitUntil(area.isActiveWindow)
    panes[0].view.setFocus()
    qtbot.keyClick(panes[0].view, Qt.Key.Key_PageDown, Qt.KeyboardModifier.ControlModifier)
    assert tabs.currentIndex() == 1
    qtbot.keyClick(tabs.currentWidget(), Qt.Key.Key_PageUp, Qt.KeyboardModifier.ControlModifier)
    assert tabs.currentIndex() == 0


def test_tab_labels_follow_a_relabelling(make_area: AreaFactory) -> None:
    area, panes = make_area(2)
    area.set_mode("tabs")
    panes[1].setAccessibleName("Renamed")
    area.refresh_labels()
    tabs = area.findChild(QTabWidget)
    assert tabs is not None and tabs.tabText(1) == "Renamed"


@pytest.mark.parametrize("mode", ["columns", "grid", "tabs"])
def test_maximise_shows_one_pane_and_restore_shows_all(make_area: AreaFactory, qtbot: QtBot, mode: str) -> None:
    area, panes = make_area(4)
    area.set_mode(mode)
    with qtbot.waitSignal(area.maximised_changed) as signal:
        area.toggle_maximised(panes[2])
    assert signal.args == [panes[2]]
    assert area.maximised() is panes[2]
    qtbot.waitUntil(lambda: panes[2].size() == area.size())
    assert [pane.isVisible() for pane in panes] == [False, False, True, False]

    with qtbot.waitSignal(area.maximised_changed) as signal:
        area.toggle_maximised(panes[2])
    assert signal.args == [None]
    assert area.maximised() is None
    expected = [True] * 4 if mode != "tabs" else [index == 0 for index in range(4)]
    qtbot.waitUntil(lambda: [pane.isVisible() for pane in panes] == expected)

    area.toggle_maximised(panes[1])
    area.restore()
    assert area.maximised() is None
    area.restore()  # nothing maximised: nothing happens
    assert area.mode() == mode


def test_choosing_a_mode_ends_maximising(make_area: AreaFactory, qtbot: QtBot) -> None:
    area, panes = make_area(3)
    area.toggle_maximised(panes[0])
    with qtbot.waitSignals([area.maximised_changed, area.mode_changed]):
        area.set_mode("grid")
    assert area.maximised() is None
    qtbot.waitUntil(lambda: all(pane.isVisible() for pane in panes))


def test_synced_scrolling_moves_the_others_to_the_same_fraction(make_area: AreaFactory, qtbot: QtBot) -> None:
    area, panes = make_area(3)
    qtbot.waitUntil(lambda: all(pane.bar.maximum() > 0 for pane in panes))
    area.set_synced_scrolling(True)
    assert area.is_synced()
    panes[1].bar.setValue(panes[1].bar.maximum() // 2)
    for pane in panes:
        assert fraction(pane.bar) == pytest.approx(0.5, abs=0.01)
    panes[2].bar.setValue(panes[2].bar.maximum())
    assert [pane.bar.value() for pane in panes] == [pane.bar.maximum() for pane in panes]

    area.set_synced_scrolling(False)
    panes[0].bar.setValue(0)
    assert panes[1].bar.value() == panes[1].bar.maximum()
    assert panes[2].bar.value() == panes[2].bar.maximum()


def test_user_scrolling_syncs_too(make_area: AreaFactory, qtbot: QtBot) -> None:
    area, panes = make_area(2)
    qtbot.waitUntil(lambda: all(pane.bar.maximum() > 0 for pane in panes))
    area.set_synced_scrolling(True)
    panes[0].bar.triggerAction(QScrollBar.SliderAction.SliderToMaximum)
    assert panes[1].bar.value() == panes[1].bar.maximum()


def test_switching_modes_keeps_text_and_scroll_position(make_area: AreaFactory, qtbot: QtBot) -> None:
    area, panes = make_area(4)
    qtbot.waitUntil(lambda: all(pane.bar.maximum() > 0 for pane in panes))
    for pane in panes:
        pane.bar.setValue(pane.bar.maximum() // 3)
    for mode in ("grid", "tabs", "columns"):
        area.set_mode(mode)
        area.toggle_maximised(panes[0])
        area.restore()
    qtbot.waitUntil(lambda: all(pane.isVisible() for pane in panes))
    for pane in panes:
        assert pane.view.toPlainText() == pane.text
        qtbot.waitUntil(lambda pane=pane: abs(fraction(pane.bar) - 1 / 3) < 0.02)  # type: ignore[misc]


def test_focus_stays_in_the_pane_it_was_in(make_area: AreaFactory, qtbot: QtBot) -> None:
    area, panes = make_area(3)
    area.activateWindow()
    panes[1].view.setFocus()
    qtbot.waitUntil(panes[1].view.hasFocus)
    area.set_mode("grid")
    qtbot.waitUntil(panes[1].view.hasFocus)


def test_set_panes_reorders_and_gives_dropped_panes_back(make_area: AreaFactory, qtbot: QtBot) -> None:
    area, panes = make_area(3)
    area.toggle_maximised(panes[1])
    with qtbot.waitSignal(area.maximised_changed) as signal:
        area.set_panes([panes[2], panes[0]])
    assert signal.args == [None]
    assert area.panes() == [panes[2], panes[0]]
    assert panes[1].parent() is None
    assert panes[1].view.toPlainText() == panes[1].text  # not deleted
    qtbot.waitUntil(lambda: panes[2].isVisible() and panes[0].isVisible())
    assert position(area, panes[2])[0] < position(area, panes[0])[0]
    area.set_panes([])
    assert all(pane.parent() is None for pane in panes)


def test_unknown_mode_and_foreign_pane_are_refused(make_area: AreaFactory) -> None:
    area, _ = make_area(1)
    with pytest.raises(ValueError, match="unknown pane layout"):
        area.set_mode("stack")
    with pytest.raises(ValueError, match="not in this area"):
        area.toggle_maximised(FakePane(9))


def test_a_focused_pane_moving_does_not_scroll_the_columns_sideways(make_area: AreaFactory, qtbot: QtBot) -> None:
    area, panes = make_area(8)
    area.resize(900, 600)
    area.activateWindow()
    panes[0].view.setFocus()
    qtbot.waitUntil(panes[0].view.hasFocus)
    area.set_panes(list(reversed(panes)))
    assert columns_scroller(area).horizontalScrollBar().value() == 0
    assert panes[0].view.hasFocus()


def test_focus_moves_to_the_maximised_pane_when_its_own_is_hidden(make_area: AreaFactory, qtbot: QtBot) -> None:
    area, panes = make_area(3)
    area.activateWindow()
    panes[0].view.setFocus()
    qtbot.waitUntil(panes[0].view.hasFocus)
    area.toggle_maximised(panes[2])
    qtbot.waitUntil(panes[2].view.hasFocus)
