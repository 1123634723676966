"""HistoryController: the history dock, search, export and import, over the store.

Every store call goes through the HistoryWriter's thread; results come back
on the GUI thread through RoomSession.run_job. The window only provides
`open_room(room)` and a status bar. Export and import load their module when
first used: the window builds this controller before its first frame
(start-up, docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from PySide6.QtCore import QObject, Qt, QTimer, Slot
from PySide6.QtWidgets import QDockWidget, QFileDialog, QPushButton

from chatroom.core.errors import ChatroomError
from chatroom.core.room import Room
from chatroom.ui.history_panel import HistoryPanel
from chatroom.ui.history_writer import HistoryWriter
from chatroom.ui.session import RoomSession

if TYPE_CHECKING:
    from chatroom.core.store import RoomSummary, SearchHit, Store
    from chatroom.ui.main_window import MainWindow

__all__ = ["HistoryController"]

T = TypeVar("T")
_FILTERS: Final = {
    "md": "Markdown (*.md)",
    "json": "Chatroom transcript (*.json)",
    "html": "Web page, side by side (*.html)",
}
UNDO_MS: Final = 10_000


class HistoryController(QObject):
    """Keeps the history dock in step with the store and opens rooms from it."""

    def __init__(self, window: MainWindow, session: RoomSession, writer: HistoryWriter) -> None:
        super().__init__(window)
        self._window = window
        self._session = session
        self._writer = writer
        self.panel = HistoryPanel()
        self.dock = QDockWidget("History", window)
        self.dock.setObjectName("historyDock")
        self.dock.setWidget(self.panel)
        window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.dock)
        self.panel.room_chosen.connect(self.on_panel_room_chosen)
        self.panel.turn_chosen.connect(self.on_panel_turn_chosen)
        self.panel.search_changed.connect(self.on_panel_search_changed)
        self.panel.rename_requested.connect(self.on_panel_rename_requested)
        self.panel.pin_requested.connect(self.on_panel_pin_requested)
        self.panel.delete_requested.connect(self.on_panel_delete_requested)
        self.panel.restore_requested.connect(self.on_panel_restore_requested)
        writer.failed.connect(self.on_writer_failed)
        writer.saved.connect(self.on_writer_saved)
        writer.notice.connect(self.on_writer_notice)

    def _run(self, action: Callable[[Store], T], on_done: Callable[[T | BaseException], None]) -> None:
        """`action(store)` on the store's thread; `on_done` with its result on this one."""

        async def job() -> T:
            import asyncio  # loaded after the first paint (start-up)

            return await asyncio.wrap_future(self._writer.submit(action))

        self._session.run_job(job(), on_done)

    # -- rooms -------------------------------------------------------------

    def refresh(self) -> None:
        """Reload the list of rooms (after a turn, a rename, a delete...)."""
        self._run(lambda store: store.list_rooms(include_deleted=True), self._show_rooms)

    def _show_rooms(self, result: list[RoomSummary] | BaseException) -> None:
        if isinstance(result, BaseException):
            self.panel.status_label.setText(f"History unavailable: {result}")
            return
        self.panel.set_rooms(result, self._session.room.id)

    def restore_last_room(self) -> None:
        """At start: reopen the room the user was in."""

        def load(store: Store) -> Room | None:
            room_id = store.last_room_id()
            return store.load_room(room_id) if room_id is not None else None

        def opened(result: Room | None | BaseException) -> None:
            # The user may have started a turn before the history answered:
            # their live room wins over the one from last time.
            if self._session.room.turns or self._session.is_busy:
                self.refresh()
                return
            self._opened(result)

        self._run(load, opened)
        self.refresh()

    @Slot(str)
    def on_panel_room_chosen(self, room_id: str) -> None:
        if room_id == self._session.room.id:
            return
        self._run(lambda store: store.load_room(room_id), self._opened)

    @Slot(str, int, str)
    def on_panel_turn_chosen(self, room_id: str, turn: int, match: str) -> None:
        """A search hit: its room, scrolled to the turn that matched, the match selected."""
        if room_id == self._session.room.id:
            self._window.go_to_turn(turn, match)
            return

        def opened(result: Room | None | BaseException) -> None:
            self._opened(result)
            if isinstance(result, Room) and self._session.room is result:
                self._window.go_to_turn(turn, match)

        self._run(lambda store: store.load_room(room_id), opened)

    def _opened(self, result: Room | None | BaseException) -> None:
        if isinstance(result, BaseException):
            self._window.statusBar().showMessage(f"Could not open the room: {result}", 8000)
        elif result is not None:
            self._window.open_room(result)
            self.refresh()

    @Slot(str)
    def on_panel_search_changed(self, query: str) -> None:
        if not query:
            self.refresh()
            return

        def shown(result: list[SearchHit] | BaseException) -> None:
            if isinstance(result, BaseException):
                self.panel.status_label.setText(f"Search failed: {result}")
            else:
                self.panel.set_hits(query, result)

        self._run(lambda store: store.search(query), shown)

    @Slot(str, str)
    def on_panel_rename_requested(self, room_id: str, title: str) -> None:
        if room_id == self._session.room.id:
            self._session.room.title = title
        self._run(lambda store: store.rename_room(room_id, title), self._changed)

    @Slot(str, bool)
    def on_panel_pin_requested(self, room_id: str, pinned: bool) -> None:
        self._run(lambda store: store.set_pinned(room_id, pinned), self._changed)

    @Slot(str)
    def on_panel_delete_requested(self, room_id: str) -> None:
        if room_id == self._session.room.id:
            self._window.on_new_room_triggered()
        self._run(lambda store: store.delete_room(room_id), self._changed)
        self._offer_undo(room_id)

    @Slot(str)
    def on_panel_restore_requested(self, room_id: str) -> None:
        self._run(lambda store: store.restore_room(room_id), self._changed)

    def _offer_undo(self, room_id: str) -> None:
        bar = self._window.statusBar()
        undo = QPushButton("Undo")
        undo.setAccessibleName("Undo delete")

        def restore() -> None:
            self.on_panel_restore_requested(room_id)
            bar.removeWidget(undo)
            undo.deleteLater()

        undo.clicked.connect(restore)
        bar.showMessage("Room moved to the trash (kept 30 days).", UNDO_MS)
        bar.addPermanentWidget(undo)
        QTimer.singleShot(UNDO_MS, undo.deleteLater)

    def _changed(self, result: Any) -> None:
        if isinstance(result, BaseException):
            self._window.statusBar().showMessage(str(result), 8000)
        self.refresh()

    # -- saving problems -----------------------------------------------------

    @Slot(str)
    def on_writer_failed(self, message: str) -> None:
        reason = message.rstrip(".")
        self._window.show_banner(f"History cannot be saved: {reason}. Replies go on streaming.")

    @Slot()
    def on_writer_saved(self) -> None:
        self._window.show_banner("")

    @Slot(str)
    def on_writer_notice(self, message: str) -> None:
        self._window.show_banner(message)

    # -- export and import ---------------------------------------------------

    def export_current(self) -> None:
        room = self._session.room
        if not room.turns:
            self._window.statusBar().showMessage("Nothing to export yet: this room has no turns.", 5000)
            return
        name = "".join(c if c.isalnum() or c in " -_" else "_" for c in room.title)[:60] or "room"
        path, chosen = QFileDialog.getSaveFileName(
            self._window, "Export room", f"{name}.md", ";;".join(_FILTERS.values())
        )
        if path:
            fmt = next((f for f, label in _FILTERS.items() if label == chosen), Path(path).suffix[1:])
            self.export_to(Path(path), fmt if fmt in _FILTERS else "md")

    def export_to(self, path: Path, fmt: str) -> None:
        """Write the current room (a snapshot) off the GUI thread; say how it went."""
        from chatroom.core.export import export_room  # deferred: start-up (see the docstring)
        from chatroom.ui.history_writer import room_snapshot

        snapshot = room_snapshot(self._session.room)

        async def write() -> None:
            import asyncio  # loaded after the first paint (start-up)

            await asyncio.to_thread(export_room, snapshot, path, fmt)  # type: ignore[arg-type]

        def done(result: object) -> None:
            message = f"Export failed: {result}" if isinstance(result, BaseException) else f"Exported to {path}"
            self._window.statusBar().showMessage(message, 8000)

        self._session.run_job(write(), done)

    def import_transcript(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self._window, "Import transcript", "", _FILTERS["json"])
        if path:
            self.import_from(Path(path))

    def import_from(self, path: Path) -> None:
        from chatroom.core.export import import_file  # deferred: start-up (see the docstring)

        async def read() -> Room:
            import asyncio  # loaded after the first paint (start-up)

            return await asyncio.to_thread(import_file, path)

        def done(result: Room | BaseException) -> None:
            if isinstance(result, BaseException):
                reason = str(result) if isinstance(result, ChatroomError) else type(result).__name__
                self._window.statusBar().showMessage(f"Nothing imported: {reason}", 10_000)
                return
            self._writer.save_room(result)
            self._window.open_room(result)
            self.refresh()

        self._session.run_job(read(), done)

