"""AttemptsWindow: one seat's earlier attempts, the replies manual retries replaced.

A pane shows the current reply of each turn only. This small window, which
never blocks the main one, lists the turns of one seat whose reply was
retried and, for the chosen turn, every attempt (the current one included,
marked so). The chosen attempt is shown as a pane shows a reply: its prompt
and its Markdown rendered read-only in a ReplyView (nothing fetched, links on
click only), under a line with its state, time, metrics and error. "Compare
with current" opens the word diff between it and the current reply. The
window follows the room: an attempt added by another retry appears at once.

AttemptWindows keeps at most one such window per seat for the main window.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from chatroom.core.catalog import Pricing
from chatroom.core.metrics import format_metrics, reply_metrics
from chatroom.core.room import Reply, ReplyState, Room, Seat, SeatId, Turn

# The view (with its Markdown renderer) and the diff are imported when a
# window opens: the main window makes an AttemptWindows before its first frame
# (start-up, docs/performance.md).
if TYPE_CHECKING:
    from chatroom.ui.reply_view import ReplyView

__all__ = ["AttemptWindows", "AttemptsWindow"]

_NUMBER: Final = Qt.ItemDataRole.UserRole
_PROMPT_CHARS: Final = 60


class AttemptsWindow(QDialog):
    """Every attempt at one seat's retried replies, read-only; see the module docstring.

    A dialog for its Esc-to-close and its place above the main window, but
    shown with show(), never exec(): the room goes on streaming behind it.
    """

    def __init__(
        self,
        room: Room,
        seat: Seat,
        parent: QWidget | None = None,
        *,
        pricing: Pricing | None = None,
    ) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setModal(False)
        self.resize(820, 560)
        self._room = room
        self._seat = seat
        self._pricing = pricing
        self._turn_indexes: list[int] = []
        # What the view shows, so a refresh that changes nothing keeps the reader's place.
        self._shown_state: tuple[Reply, ReplyState] | None = None
        self.setWindowTitle(f"Earlier attempts — {seat.label}")
        self.setAccessibleName(f"Earlier attempts of {seat.label}")

        self.turn_combo = QComboBox()
        self.turn_combo.setAccessibleName("Turn")
        self.turn_combo.setToolTip("The turns of this seat whose reply was retried")
        self.turn_combo.currentIndexChanged.connect(self.on_turn_combo_current_index_changed)
        self.attempt_list = QListWidget()
        self.attempt_list.setAccessibleName("Attempts")
        self.attempt_list.currentRowChanged.connect(self.on_attempt_list_current_row_changed)
        self.details_label = QLabel("")
        self.details_label.setAccessibleName("Attempt details")
        self.details_label.setWordWrap(True)
        self.details_label.setTextFormat(Qt.TextFormat.RichText)
        self.details_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.view = _new_view(seat.label)
        self.compare_button = QPushButton("Compare with current")
        self.compare_button.setAccessibleName("Compare with current")
        self.compare_button.setToolTip("Show the words this attempt and the current reply do not share")
        self.compare_button.clicked.connect(self.on_compare_button_clicked)
        self._lay_out()
        self.set_room(room)

    def _lay_out(self) -> None:
        top = QHBoxLayout()
        self._turn_caption = QLabel("Turn:")
        top.addWidget(self._turn_caption)
        top.addWidget(self.turn_combo, 1)
        self._shown = QWidget()
        self._shown_layout = QVBoxLayout(self._shown)
        self._shown_layout.setContentsMargins(0, 0, 0, 0)
        self._shown_layout.addWidget(self.details_label)
        self._shown_layout.addWidget(self.view, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.attempt_list)
        splitter.addWidget(self._shown)
        splitter.setSizes([260, 560])  # "Attempt 2 · interrupted · current" fits
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.compare_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        layout.addWidget(buttons)

    # -- what the main window tells us ------------------------------------

    @property
    def seat_id(self) -> SeatId:
        return self._seat.id

    def set_room(self, room: Room) -> None:
        """Show the room as it now is, keeping the chosen turn and attempt where they still exist."""
        turn_index, number = self.chosen()
        self._room = room
        self._turn_indexes = room.retried_turns(self._seat.id)
        self.turn_combo.blockSignals(True)  # one rebuild below, not one per item
        self.turn_combo.clear()
        for index in self._turn_indexes:
            self.turn_combo.addItem(_turn_title(index, room.turns[index]))
        self.turn_combo.blockSignals(False)
        several = len(self._turn_indexes) > 1
        self.turn_combo.setVisible(several)
        self._turn_caption.setVisible(several)
        if turn_index in self._turn_indexes:
            self._choose(self._turn_indexes.index(turn_index), number)
        elif self._turn_indexes:
            self._choose(len(self._turn_indexes) - 1, None)
        else:
            self._show_nothing()

    def show_turn(self, turn_index: int) -> None:
        """Choose a turn (an index into room.turns) and its latest earlier attempt."""
        if turn_index in self._turn_indexes:
            self._choose(self._turn_indexes.index(turn_index), None)

    def chosen(self) -> tuple[int | None, int | None]:
        """The turn (index into room.turns) and attempt number shown; None before any."""
        row = self.turn_combo.currentIndex()
        if not 0 <= row < len(self._turn_indexes):
            return None, None
        item = self.attempt_list.currentItem()
        number = item.data(_NUMBER) if item is not None else None
        return self._turn_indexes[row], number if isinstance(number, int) else None

    def shown_reply(self) -> Reply | None:
        """The attempt the view shows."""
        turn_index, number = self.chosen()
        if turn_index is None or number is None:
            return None
        return _attempts_of(self._room.turns[turn_index], self._seat.id)[number - 1]

    # -- internals --------------------------------------------------------

    def _choose(self, row: int, number: int | None) -> None:
        self.turn_combo.blockSignals(True)
        self.turn_combo.setCurrentIndex(row)
        self.turn_combo.blockSignals(False)
        self._fill_attempts(number)

    def _fill_attempts(self, number: int | None) -> None:
        """List the chosen turn's attempts and show `number` (default: the latest earlier one)."""
        turn = self._room.turns[self._turn_indexes[self.turn_combo.currentIndex()]]
        attempts = _attempts_of(turn, self._seat.id)
        self.attempt_list.blockSignals(True)
        self.attempt_list.clear()
        for n, attempt in enumerate(attempts, 1):
            current = " · current" if n == len(attempts) else ""
            item = QListWidgetItem(f"Attempt {n} · {attempt.state.value}{current}")
            item.setData(_NUMBER, n)
            item.setToolTip(_when(attempt))
            self.attempt_list.addItem(item)
        if number is None or not 1 <= number <= len(attempts):
            number = len(attempts) - 1  # the one the last retry replaced
        self.attempt_list.setCurrentRow(number - 1)
        self.attempt_list.blockSignals(False)
        self._show(turn, attempts, number)

    def _show(self, turn: Turn, attempts: list[Reply], number: int) -> None:
        """Show one attempt: its details line and, in a new view, its prompt and text."""
        attempt = attempts[number - 1]
        is_current = number == len(attempts)
        self.details_label.setText(self._details(attempt, number, is_current))
        self.compare_button.setEnabled(not is_current)
        if self._shown_state == (attempt, attempt.state):
            return
        self._shown_state = (attempt, attempt.state)
        view = _new_view(self._seat.label)
        view.setAccessibleName(f"Attempt {number} from {self._seat.label}")
        view.show_prompt(turn.prompt)
        view.load_reply(attempt)
        self._replace_view(view)

    def _replace_view(self, view: ReplyView) -> None:
        # A view holds one thread and cannot unload a reply: a new one is
        # simpler than teaching it to, and an attempt is shown whole once.
        self._shown_layout.replaceWidget(self.view, view)
        self.view.hide()  # until deleted, it would still paint over the details line
        self.view.deleteLater()
        self.view = view

    def _details(self, attempt: Reply, number: int, is_current: bool) -> str:
        import html  # with html.entities, 1.5 ms the first frame does not need

        metrics = format_metrics(reply_metrics(attempt, pricing=self._pricing, started_at=attempt.sent_at))
        parts = [f"<b>Attempt {number}{' (current)' if is_current else ''}</b>",
                 html.escape(attempt.state.value), html.escape(_when(attempt))]
        if metrics:
            parts.append(html.escape(metrics))
        if attempt.finish_reason:
            parts.append(f"finish: {html.escape(attempt.finish_reason)}")
        line = " · ".join(parts)
        if attempt.error:
            line += f"<br><span style='color:#c53030'>{html.escape(attempt.error)}</span>"
        return line

    def _show_nothing(self) -> None:
        self.attempt_list.clear()
        self.details_label.setText("This seat has no earlier attempts in this room.")
        self.compare_button.setEnabled(False)
        self._shown_state = None
        self._replace_view(_new_view(self._seat.label))

    @Slot(int)
    def on_turn_combo_current_index_changed(self, row: int) -> None:
        if 0 <= row < len(self._turn_indexes):
            self._fill_attempts(None)

    @Slot(int)
    def on_attempt_list_current_row_changed(self, row: int) -> None:
        turn_index, _ = self.chosen()
        if turn_index is None or row < 0:
            return
        turn = self._room.turns[turn_index]
        self._show(turn, _attempts_of(turn, self._seat.id), row + 1)

    @Slot()
    def on_compare_button_clicked(self) -> None:
        turn_index, number = self.chosen()
        if turn_index is None or number is None:
            return
        from chatroom.ui.diff_view import DiffDialog  # deferred: start-up (see the imports)

        attempts = _attempts_of(self._room.turns[turn_index], self._seat.id)
        dialog = DiffDialog(
            f"attempt {number}", attempts[number - 1].text,
            f"attempt {len(attempts)} (current)", attempts[-1].text,
            self,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()


def _new_view(label: str) -> ReplyView:
    from chatroom.ui.reply_view import ReplyView  # deferred: start-up (see the imports)

    return ReplyView(label)


class AttemptWindows(QObject):
    """The open attempts windows of a main window: at most one per seat."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._parent = parent
        self._windows: dict[SeatId, AttemptsWindow] = {}

    def open(self, room: Room, seat: Seat, *, pricing: Pricing | None = None) -> AttemptsWindow:
        """Show the seat's window (a new one, or the open one brought forward)."""
        window = self._windows.get(seat.id)
        if window is None:
            window = AttemptsWindow(room, seat, self._parent, pricing=pricing)
            window.finished.connect(self.on_window_finished)
            self._windows[seat.id] = window
        window.show()
        window.raise_()
        window.activateWindow()
        return window

    def get(self, seat_id: SeatId) -> AttemptsWindow | None:
        return self._windows.get(seat_id)

    def follow(self, room: Room, seat_id: SeatId) -> None:
        """The seat's replies changed: its open window, if any, shows them."""
        window = self._windows.get(seat_id)
        if window is not None:
            window.set_room(room)

    def close_all(self, *, keep: frozenset[SeatId] = frozenset()) -> None:
        """Close every window (another room was opened), or those of seats not in `keep`."""
        for seat_id in [s for s in self._windows if s not in keep]:
            self._windows.pop(seat_id).close()

    @Slot(int)
    def on_window_finished(self, _result: int) -> None:
        for seat_id, window in list(self._windows.items()):
            if window is self.sender():
                del self._windows[seat_id]


def _attempts_of(turn: Turn, seat_id: SeatId) -> list[Reply]:
    """The seat's attempts in the turn, oldest first, the current reply last."""
    reply = turn.replies[seat_id]
    return [*reply.attempts, reply]


def _turn_title(index: int, turn: Turn) -> str:
    first_line = turn.prompt.strip().splitlines()[0] if turn.prompt.strip() else ""
    if len(first_line) > _PROMPT_CHARS:
        first_line = first_line[: _PROMPT_CHARS - 1] + "…"
    return f"Turn {index + 1}: {first_line}"


def _when(reply: Reply) -> str:
    """When the attempt ended (or was made, if it never did), in local time."""
    at = reply.finished_at if reply.finished_at is not None else reply.created_at
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))
