"""HistoryPanel: saved rooms grouped by date, full-text search, rename/pin/delete.

The panel shows what it is given and says what the user asked for; the
window talks to the store (off the GUI thread) and hands back the results.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from PySide6.QtCore import QPoint, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:  # the store itself loads on its own thread (see history_writer)
    from chatroom.core.store import RoomSummary, SearchHit

__all__ = ["HistoryPanel", "date_group"]

_ROOM_ID: Final = Qt.ItemDataRole.UserRole
_DELETED: Final = Qt.ItemDataRole.UserRole + 1
_TURN: Final = Qt.ItemDataRole.UserRole + 2  # a search hit's turn, counted from the room's first
_MATCH: Final = Qt.ItemDataRole.UserRole + 3  # the first text the search matched in it
# Markers the store puts around matched words in snippets.
_MARK_OPEN: Final = "\x02"
_MARK_CLOSE: Final = "\x03"
# Marked words, and the ones marked right after them with only spaces between.
_MARKED_WORD: Final = f"{_MARK_OPEN}[^{_MARK_CLOSE}]*{_MARK_CLOSE}"
_MARKED_RUN: Final = re.compile(f"{_MARKED_WORD}(?: +{_MARKED_WORD})*")


def date_group(moment: float, today: datetime.date | None = None) -> str:
    """'Today', 'Yesterday', 'Previous 7 days', 'Previous 30 days' or 'Month Year'."""
    day = datetime.datetime.fromtimestamp(moment).date()
    today = today or datetime.date.today()
    age = (today - day).days
    if age <= 0:
        return "Today"
    if age == 1:
        return "Yesterday"
    if age <= 7:
        return "Previous 7 days"
    if age <= 30:
        return "Previous 30 days"
    return day.strftime("%B %Y")


class HistoryPanel(QWidget):
    """Rooms and search results.

    Signals:
        room_chosen(str): the user opened a room (its id).
        turn_chosen(str, int, str): the user opened a search hit: room id, turn
            index, and the first text that matched ("" if none is marked).
        search_changed(str): the search text changed (debounced); "" = show rooms.
        rename_requested(str, str): room id and its new title.
        pin_requested(str, bool): room id and whether to pin it.
        delete_requested(str): move the room to the trash.
        restore_requested(str): bring the room back from the trash.
    """

    room_chosen = Signal(str)
    turn_chosen = Signal(str, int, str)
    search_changed = Signal(str)
    rename_requested = Signal(str, str)
    pin_requested = Signal(str, bool)
    delete_requested = Signal(str)
    restore_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search_edit = QLineEdit()
        self.search_edit.setAccessibleName("Search history")
        self.search_edit.setPlaceholderText("Search prompts and replies (Ctrl+F)")
        self.search_edit.setClearButtonEnabled(True)
        self.tree = QTreeWidget()
        self.tree.setAccessibleName("History")
        self.tree.setHeaderHidden(True)
        self.tree.setRootIsDecorated(False)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.itemActivated.connect(self.on_tree_item_activated)
        self.tree.itemClicked.connect(self.on_tree_item_activated)
        self.tree.customContextMenuRequested.connect(self.on_tree_custom_context_menu_requested)
        self.status_label = QLabel("")
        self.status_label.setStyleSheet("color: #777;")
        self.status_label.setWordWrap(True)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(200)
        self._search_timer.timeout.connect(self.on_search_timer_timeout)
        self.search_edit.textChanged.connect(self._search_timer.start)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search_edit)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.status_label)
        self._hits: list[SearchHit] = []

    def focus_search(self) -> None:
        self.search_edit.setFocus()
        self.search_edit.selectAll()

    def set_rooms(self, rooms: Sequence[RoomSummary], current_id: str | None = None) -> None:
        """Show rooms: pinned first, then by date group, newest first; the trash last."""
        if self.search_edit.text().strip():
            return  # search results stay until the search is cleared
        self.tree.clear()
        self._hits = []
        groups: dict[str, QTreeWidgetItem] = {}
        for room in rooms:
            name = "Trash" if room.deleted_at else "Pinned" if room.pinned else date_group(room.updated_at)
            group = groups.get(name)
            if group is None:
                group = groups[name] = self._group(name)
            item = QTreeWidgetItem(group, [room.title or "Untitled room"])
            item.setData(0, _ROOM_ID, room.id)
            item.setData(0, _DELETED, room.deleted_at is not None)
            item.setToolTip(0, f"{room.title}\n{room.turn_count} turns")
            if room.id == current_id:
                self.tree.setCurrentItem(item)
        self.tree.expandAll()
        self.status_label.setText("" if rooms else "No saved rooms yet: they appear here as you chat.")

    def set_hits(self, query: str, hits: Sequence[SearchHit]) -> None:
        """Show search results (if the query is still the one typed)."""
        import html  # with html.entities, 1.5 ms the first frame does not need

        if query != self.search_edit.text().strip():
            return
        self.tree.clear()
        self._hits = list(hits)
        for hit in hits:
            where = "prompt" if hit.seat_label is None else hit.seat_label
            if hit.attempt is not None:
                where += f", earlier attempt {hit.attempt}"
            item = QTreeWidgetItem(self.tree, [""])
            item.setData(0, _ROOM_ID, hit.room_id)
            item.setData(0, _TURN, hit.turn_index)
            item.setData(0, _MATCH, first_match(hit.snippet))
            label = QLabel(
                f"<b>{html.escape(hit.room_title)}</b> · turn {hit.turn_index + 1} · "
                f"{html.escape(where)}<br>{_highlight(hit.snippet)}"
            )
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            self.tree.setItemWidget(item, 0, label)
        self.status_label.setText(f"{len(hits)} match{'es' if len(hits) != 1 else ''}")

    def hit_count(self) -> int:
        """How many search results are shown (0 while the rooms are)."""
        return len(self._hits) if self.search_edit.text().strip() else 0

    def _group(self, name: str) -> QTreeWidgetItem:
        group = QTreeWidgetItem(self.tree, [name])
        font = group.font(0)
        font.setBold(True)
        group.setFont(0, font)
        group.setFlags(Qt.ItemFlag.ItemIsEnabled)
        return group

    @Slot()
    def on_search_timer_timeout(self) -> None:
        self.search_changed.emit(self.search_edit.text().strip())

    @Slot(QTreeWidgetItem, int)
    def on_tree_item_activated(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        room_id = item.data(0, _ROOM_ID)
        if not isinstance(room_id, str) or item.data(0, _DELETED):
            return
        turn = item.data(0, _TURN)
        if isinstance(turn, int):
            self.turn_chosen.emit(room_id, turn, str(item.data(0, _MATCH) or ""))
        else:
            self.room_chosen.emit(room_id)

    @Slot(QPoint)
    def on_tree_custom_context_menu_requested(self, point: QPoint) -> None:
        item = self.tree.itemAt(point)
        room_id = item.data(0, _ROOM_ID) if item is not None else None
        if item is None or not isinstance(room_id, str):
            return
        menu = QMenu(self)
        if item.data(0, _DELETED):
            menu.addAction("Restore", lambda: self.restore_requested.emit(room_id))
        else:
            menu.addAction("Open", lambda: self.room_chosen.emit(room_id))
            menu.addAction("Rename…", lambda: self._rename(room_id, item.text(0)))
            group = item.parent()
            pinned = group is not None and group.text(0) == "Pinned"
            menu.addAction("Unpin" if pinned else "Pin", lambda: self.pin_requested.emit(room_id, not pinned))
            menu.addAction("Delete", lambda: self.delete_requested.emit(room_id))
        menu.exec(self.tree.viewport().mapToGlobal(point))

    def _rename(self, room_id: str, title: str) -> None:
        new_title, ok = QInputDialog.getText(self, "Rename room", "Title:", text=title)
        if ok and new_title.strip():
            self.rename_requested.emit(room_id, new_title.strip())


def first_match(snippet: str) -> str:
    """The first text the store marked as matching in `snippet`; "" when it marked none.

    The store marks each matched word; words marked one after the other (a
    phrase) make one match.
    """
    run = _MARKED_RUN.search(snippet)
    return "" if run is None else run.group().replace(_MARK_OPEN, "").replace(_MARK_CLOSE, "").strip()


def _highlight(snippet: str) -> str:
    """Escape the snippet, then turn the store's match markers into bold."""
    import html

    escaped = html.escape(snippet)
    return escaped.replace(_MARK_OPEN, "<b style='background: rgba(255,200,0,0.35)'>").replace(
        _MARK_CLOSE, "</b>"
    )
