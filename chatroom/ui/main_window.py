"""MainWindow: seat bar, pane grid, composer, parameters dock, menus and shortcuts.

It turns user actions into RoomSession calls and session signals into pane
updates; it holds no business rules. Keyring work happens right after the
first paint, off the GUI thread, through RoomSession.run_job.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import platform
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Final

import PySide6
from PySide6.QtCore import QByteArray, QSize, QStringListModel, Qt, QTimer, QUrl, Signal, Slot, qVersion
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDesktopServices,
    QKeyEvent,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QCompleter,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from chatroom import __version__
from chatroom.core import paths
from chatroom.core.catalog import Pricing, Recommended, fetch_recommended
from chatroom.core.errors import ChatroomError, SettingsError
from chatroom.core.logs import LOG_NAME, recent_log_lines
from chatroom.core.metrics import (
    CostRange,
    ReplyMetrics,
    estimate_tokens,
    estimate_turn_cost,
    format_metrics,
    format_usd,
    reply_metrics,
)
from chatroom.core.params import merge_params
from chatroom.core.room import ReplyState, Room, SeatId
from chatroom.core.secrets import ApiKey, KeySource, KeyStore
from chatroom.core.settings import Endpoint, SavedSeat, Settings, save_settings
from chatroom.ui.application import bring_to_front
from chatroom.ui.attempts_window import AttemptWindows
from chatroom.ui.catalogs import CatalogKeeper
from chatroom.ui.comparison import ComparisonStrip
from chatroom.ui.first_paint import FirstPaintWatch
from chatroom.ui.history_controller import HistoryController
from chatroom.ui.pane_area import PaneArea
from chatroom.ui.session import EndpointConfig, RoomSession
from chatroom.ui.shown_turns import shown_turn_count
from chatroom.ui.welcome import WelcomePanel

# The dialogs, the panes (with their Markdown renderer) and the parameter
# controls are imported where they are first opened or built: the window's
# first frame needs none of them (start-up, docs/performance.md).
if TYPE_CHECKING:
    from chatroom.ui.history_writer import HistoryWriter
    from chatroom.ui.pane import ReplyPane
    from chatroom.ui.params_panel import ParamsPanel

__all__ = ["MainWindow", "PromptEdit", "endpoint_configs"]

log = logging.getLogger(__name__)

MAX_SEATS: Final = 8
METRICS_INTERVAL_MS: Final = 500
LOCAL_ENDPOINT: Final = "local"
#: The work that waits for the first paint starts this long after the window
#: shows if it has not painted by then (mapped minimised, say).
FIRST_PAINT_FALLBACK_MS: Final = 2000
_WELCOME_PAGE, _HINT_PAGE, _PANES_PAGE = range(3)
#: The window's size on a first start (later starts restore the last one).
FIRST_SIZE: Final = QSize(1200, 780)
#: ...but never more than this share of the screen's free area: a laptop's
#: 1366x768 screen has about 740 pixels under its panel, and a window taller
#: than that hides the composer under the task bar where nothing moves it.
_MAX_SCREEN_SHARE: Final = 0.95


def first_size(available: QSize) -> QSize:
    """FIRST_SIZE, shrunk to fit a screen whose free area is `available`."""
    return FIRST_SIZE.boundedTo(
        QSize(int(available.width() * _MAX_SCREEN_SHARE), int(available.height() * _MAX_SCREEN_SHARE))
    )


def endpoint_configs(settings: Settings, base_url_override: str | None) -> dict[str, EndpointConfig]:
    """The endpoints requests go to; --base-url replaces openrouter's URL for this run."""
    configs = {
        e.name: EndpointConfig(e.name, e.base_url, e.max_concurrent) for e in settings.endpoints
    }
    if base_url_override:
        # Only the URL changes: the endpoint keeps its own concurrency limit,
        # and its stored key stays bound to the saved URL's origin.
        openrouter = configs["openrouter"]
        configs["openrouter"] = EndpointConfig(
            "openrouter", base_url_override, openrouter.max_concurrent, saved_url=openrouter.base_url
        )
    return configs


def problem_report(log_path: Path) -> str:
    """Version, platform, Qt and Python versions, and the last 200 redacted log lines."""
    lines = recent_log_lines(log_path, 200)
    return "\n".join(
        [
            f"Chatroom {__version__}",
            f"Platform: {platform.platform()}",
            f"Qt {qVersion()}, PySide6 {PySide6.__version__}, Python {platform.python_version()}",
            f"Last {len(lines)} log lines:",
            *lines,
        ]
    )


def _preload_renderer() -> None:
    from chatroom.ui import render  # deferred: start-up (see the imports)

    render.preload()


class PromptEdit(QPlainTextEdit):
    """The composer: Enter makes a new line, Ctrl+Enter submits.

    Signals:
        submitted(): Ctrl+Enter (or Ctrl+Return) was pressed.
    """

    submitted = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        is_enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if is_enter and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class MainWindow(QMainWindow):
    """The Chatroom window for one room.

    Signals:
        closed(): the window closed; the app then closes the session and quits.
    """

    closed = Signal()

    def __init__(
        self,
        session: RoomSession,
        settings: Settings,
        settings_path: Path,
        keys: KeyStore,
        *,
        base_url_override: str | None = None,
        catalog_path: Path | None = None,
        history: HistoryWriter | None = None,
        restore_last_room: bool = False,
    ) -> None:
        super().__init__()
        self.session = session
        self.settings = settings
        self._settings_path = settings_path
        self._keys = keys
        self._base_url_override = base_url_override
        self.panes: dict[SeatId, ReplyPane] = {}
        # True once the start-up check finds no key and no server: first run.
        self._needs_welcome = False
        #: Asks the user a yes/no question (a dialog; tests answer it themselves).
        self.confirm: Callable[[str, str], bool] = self._ask
        #: Asks which two seats to compare (a dialog; tests answer it themselves).
        self.choose_pair: Callable[[list[str]], tuple[int, int] | None] = self._choose_pair
        self.catalogs = CatalogKeeper(
            session,
            catalog_path or paths.models_cache_path(),
            uncached=frozenset({"openrouter"}) if base_url_override else frozenset(),
            parent=self,
        )
        self.catalogs.catalogs_changed.connect(self.on_catalogs_catalogs_changed)
        self._restore_last_room = restore_last_room
        #: Prompts still to send, one turn after another ("re-run the room").
        self._rerun_queue: list[str] = []
        #: The seats' earlier-attempts windows (non-modal, at most one per seat).
        self.attempt_windows = AttemptWindows(self)
        self.history: HistoryController | None = None
        self._is_closed = False
        self.setWindowTitle("Chatroom")
        self.setObjectName("MainWindow")
        screen = self.screen()
        # The offscreen platform's screen is a made-up 800x800: tests and
        # benchmarks keep the size a real screen gets.
        if screen is None or QApplication.platformName() == "offscreen":
            self.resize(FIRST_SIZE)
        else:
            self.resize(first_size(screen.availableGeometry().size()))

        self._build_seat_bar()
        self._build_banner()
        self._build_panes_area()
        self._build_composer()
        self._build_params_dock()
        self._build_menus()
        self._build_shortcuts()

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setObjectName("mainSplitter")
        splitter.addWidget(self._stack)
        splitter.addWidget(self._composer)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        self._splitter = splitter
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(6, 6, 6, 6)
        column.addWidget(self._seat_bar)
        column.addWidget(self.banner)
        column.addWidget(splitter, 1)
        self.setCentralWidget(central)

        session.turn_started.connect(self.on_session_turn_started)
        session.text_added.connect(self.on_session_text_added)
        session.reasoning_added.connect(self.on_session_reasoning_added)
        session.reply_changed.connect(self.on_session_reply_changed)
        session.seats_changed.connect(self.on_session_seats_changed)
        session.idle_changed.connect(self.on_session_idle_changed)
        # Metrics change with the clock while replies stream: a slow tick is enough.
        self._metrics_timer = QTimer(self)
        self._metrics_timer.setInterval(METRICS_INTERVAL_MS)
        self._metrics_timer.timeout.connect(self.on_metrics_timer_timeout)
        self._estimate_timer = QTimer(self)
        self._estimate_timer.setSingleShot(True)
        self._estimate_timer.setInterval(250)
        self._estimate_timer.timeout.connect(self._update_cost_estimate)
        self.prompt_edit.textChanged.connect(self._estimate_timer.start)

        if history is not None:
            session.history = history
            self.history = HistoryController(self, session, history)
            self._history_actions()
        self._restore_layout()
        self.on_session_seats_changed()
        # Idle: the buttons only. The history list loads after the first paint.
        self.send_button.setEnabled(True)
        self.stop_all_button.setEnabled(False)
        self.prompt_edit.setFocus()
        # Keyring, network and history work waits until the window has painted once.
        FirstPaintWatch(self, self._after_first_paint, fallback_ms=FIRST_PAINT_FALLBACK_MS)

    # -- construction -----------------------------------------------------

    def _build_banner(self) -> None:
        self.banner = QLabel("")
        self.banner.setAccessibleName("Banner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(
            "color: #7a4b00; background: #fff3cd; border: 1px solid #e0c36a; padding: 4px; border-radius: 3px;"
        )
        self.banner.hide()

    def show_banner(self, text: str) -> None:
        """A message above the panes that stays until the problem goes ("" hides it)."""
        self.banner.setText(text)
        self.banner.setVisible(bool(text))

    def _history_actions(self) -> None:
        assert self.history is not None
        file_menu = self.menuBar().actions()[0].menu()
        assert isinstance(file_menu, QMenu)
        first = file_menu.actions()[1]
        for text, keys, slot in (
            ("&Export room…", "Ctrl+Shift+E", self.history.export_current),
            ("&Import transcript…", None, self.history.import_transcript),
            ("&Search history", "Ctrl+F", self.history.panel.focus_search),
        ):
            action = QAction(text, self)
            if keys:
                action.setShortcut(QKeySequence(keys))
            action.triggered.connect(slot)
            file_menu.insertAction(first, action)
        view_menu = next(a.menu() for a in self.menuBar().actions() if a.text() == "&View")
        assert isinstance(view_menu, QMenu)
        view_menu.insertAction(view_menu.actions()[0], self.history.dock.toggleViewAction())

    def open_room(self, room: Room) -> None:
        """Show a saved or imported room: its seats, parameters and turns."""
        self.attempt_windows.close_all()
        old_panes = list(self.panes.values())
        self.panes.clear()
        self.pane_area.set_panes([])
        for pane in old_panes:
            pane.deleteLater()
        self.params_panel.set_values(room.params)
        self.params_panel.set_system_prompt(room.system_prompt)
        self.session.replace_room(room)
        self.setWindowTitle(f"Chatroom — {room.title}" if room.title else "Chatroom")
        self.on_catalogs_catalogs_changed()
        for seat_id in self.panes:
            self._show_metrics(seat_id)
        self._update_comparison()

    def go_to_turn(self, index: int, match: str = "") -> None:
        """Scroll every pane to turn `index` of the room (a search hit), showing hidden turns if need be.

        A pane whose turn holds `match` selects its first occurrence there.
        """
        turns = self.session.room.turns
        # Synced scrolling moves the other panes to the same fraction of their
        # length, which is another turn in each: each pane goes to its own.
        synced = self.pane_area.is_synced()
        self.pane_area.set_synced_scrolling(False)
        try:
            with self._busy_cursor(any(index < pane.view.hidden_turns for pane in self.panes.values())):
                for pane in self.panes.values():
                    pane.scroll_to_turn(index, turns, match)
        finally:
            self.pane_area.set_synced_scrolling(synced)

    @contextlib.contextmanager
    def _busy_cursor(self, busy: bool = True) -> Iterator[None]:
        """A wait cursor over the app while the window renders many turns at once (up to a second or so)."""
        if busy:
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            yield
        finally:
            if busy:
                QApplication.restoreOverrideCursor()

    def _build_seat_bar(self) -> None:
        self._seat_bar = QWidget()
        row = QHBoxLayout(self._seat_bar)
        row.setContentsMargins(0, 0, 0, 0)
        self.endpoint_combo = QComboBox()
        self.endpoint_combo.setAccessibleName("Endpoint")
        self.endpoint_combo.setToolTip("The server new seats talk to")
        self._fill_endpoint_combo()
        self.model_edit = QLineEdit()
        self.model_edit.setAccessibleName("Model id")
        self.model_edit.setPlaceholderText("Model id, e.g. anthropic/claude-3.5-haiku — Enter adds a seat")
        self._recent_model = QStringListModel(self.settings.recent_models)
        completer = QCompleter(self._recent_model, self.model_edit)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.model_edit.setCompleter(completer)
        self.model_edit.returnPressed.connect(self.on_add_seat_button_clicked)
        self.browse_button = QPushButton("Browse…")
        self.browse_button.setAccessibleName("Browse models")
        self.browse_button.setToolTip("Pick from the endpoints' model catalogues (Ctrl+M)")
        self.browse_button.clicked.connect(self.on_browse_button_clicked)
        self.add_seat_button = QPushButton("Add seat")
        self.add_seat_button.setAccessibleName("Add seat")
        self.add_seat_button.clicked.connect(self.on_add_seat_button_clicked)
        self.seat_count_label = QLabel("")
        self.seat_count_label.setStyleSheet("color: #777;")
        row.addWidget(QLabel("Seat a model:"))
        row.addWidget(self.endpoint_combo)
        row.addWidget(self.model_edit, 1)
        row.addWidget(self.add_seat_button)
        row.addWidget(self.browse_button)
        row.addWidget(self.seat_count_label)

    def _build_panes_area(self) -> None:
        self._stack = QStackedWidget()
        self.welcome = WelcomePanel()
        self.welcome.key_submitted.connect(self.on_welcome_key_submitted)
        self.welcome.local_server_chosen.connect(self.on_welcome_local_server_chosen)
        self._hint = QLabel(
            "<h3>No seats yet</h3><p>Type a model id in the bar above and press Enter "
            "to seat it. Seat several models to compare their replies side by side.</p>"
            "<p>With the test server: <code>fake/echo</code>, <code>fake/lorem</code>.</p>"
        )
        self._hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._hint.setWordWrap(True)
        self.pane_area = PaneArea()
        self.pane_area.set_mode(self.settings.layout)
        self.pane_area.set_synced_scrolling(self.settings.synced_scrolling)
        self._stack.addWidget(self.welcome)
        self._stack.addWidget(self._hint)
        self._stack.addWidget(self.pane_area)

    def _build_composer(self) -> None:
        self._composer = QWidget()
        row = QHBoxLayout(self._composer)
        row.setContentsMargins(0, 4, 0, 0)
        self.prompt_edit = PromptEdit()
        self.prompt_edit.setAccessibleName("Prompt")
        self.prompt_edit.setPlaceholderText("Type a prompt — Ctrl+Enter sends to every seat, Enter makes a new line")
        self.prompt_edit.submitted.connect(self.on_send_button_clicked)
        buttons = QVBoxLayout()
        self.send_button = QPushButton("Send")
        self.send_button.setAccessibleName("Send")
        self.send_button.setToolTip("Send to every seat (Ctrl+Enter)")
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(self.on_send_button_clicked)
        self.stop_all_button = QPushButton("Stop all")
        self.stop_all_button.setAccessibleName("Stop all")
        self.stop_all_button.setToolTip("Stop every streaming reply (Esc)")
        self.stop_all_button.clicked.connect(self.on_stop_all_button_clicked)
        self.cost_label = QLabel("")
        self.cost_label.setAccessibleName("Estimated cost")
        self.cost_label.setStyleSheet("color: #666;")
        self.cost_label.setWordWrap(True)
        self.cost_label.setMaximumWidth(160)
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_all_button)
        buttons.addWidget(self.cost_label)
        buttons.addStretch(1)
        self.comparison = ComparisonStrip()
        column = QVBoxLayout()
        column.addWidget(self.comparison)
        column.addWidget(self.prompt_edit, 1)
        row.addLayout(column, 1)
        row.addLayout(buttons)

    def _build_params_dock(self) -> None:
        # The dock shows in the first frame and its controls just after:
        # building and painting them is about 25 ms, a tenth of the start
        # (start-up, docs/performance.md). The restored window state holds the
        # dock's width meanwhile; on the very first start there is none, and
        # they are built now rather than push the panes aside a moment later.
        self._params_panel: ParamsPanel | None = None
        self._params_dock = QDockWidget("Parameters", self)
        self._params_dock.setObjectName("paramsDock")
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self._params_dock)
        if not self.settings.window_state:
            self._fill_params_dock()

    @property
    def params_panel(self) -> ParamsPanel:
        """The room's parameter controls in the dock (built on first use)."""
        return self._fill_params_dock()

    def _fill_params_dock(self) -> ParamsPanel:
        """Build the dock's controls unless built: on first use, at the latest after the first paint."""
        if self._params_panel is None:
            from chatroom.ui.params_panel import ParamsPanel  # deferred: see _build_params_dock

            panel = ParamsPanel()
            panel.set_values(self.settings.params)
            panel.set_system_prompt(self.settings.system_prompt)
            panel.values_changed.connect(self.on_params_panel_values_changed)
            self._params_dock.setWidget(panel)
            self._params_panel = panel
        return self._params_panel

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._add_action(file_menu, "&New room", "Ctrl+N", self.on_new_room_triggered)
        file_menu.addSeparator()
        self._add_action(file_menu, "&Quit", "Ctrl+Q", self.close)
        edit_menu = self.menuBar().addMenu("&Edit")
        self._add_action(edit_menu, "&Settings…", "Ctrl+,", self.on_settings_triggered)
        seats_menu = self.menuBar().addMenu("&Seats")
        self._add_action(seats_menu, "&Add a model…", "Ctrl+M", self.on_browse_button_clicked)
        self._add_action(seats_menu, "&Compare two replies…", "Ctrl+D", self.on_compare_triggered)
        seats_menu.addSeparator()
        self._add_action(seats_menu, "&Re-run the last prompt", "Ctrl+R", self.on_rerun_last_triggered)
        self._add_action(seats_menu, "Re-run &every prompt of the room", None, self.on_rerun_room_triggered)
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self._params_dock.toggleViewAction())
        view_menu.addSeparator()
        layouts = QActionGroup(self)
        for mode, title, keys in (("columns", "&Columns", "Ctrl+1"), ("grid", "&Grid", "Ctrl+2"), ("tabs", "&Tabs", "Ctrl+3")):
            action = self._add_action(view_menu, title, keys, functools.partial(self._set_layout, mode))
            action.setCheckable(True)
            action.setChecked(self.settings.layout == mode)
            layouts.addAction(action)
        synced = self._add_action(view_menu, "&Scroll panes together", None, self.on_synced_triggered)
        synced.setCheckable(True)
        synced.setChecked(self.settings.synced_scrolling)
        help_menu = self.menuBar().addMenu("&Help")
        self._add_action(help_menu, "&Keyboard shortcuts", None, self.on_shortcuts_triggered)
        self._add_action(help_menu, "Open &log folder", None, self.on_open_log_folder_triggered)
        self._add_action(help_menu, "&Report a problem…", None, self.on_report_problem_triggered)
        self._add_action(help_menu, "&About Chatroom", None, self.on_about_triggered)

    def _add_action(self, menu: QMenu, text: str, keys: str | None, slot: Callable[..., object]) -> QAction:
        action = QAction(text, self)
        if keys:
            action.setShortcut(QKeySequence(keys))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_shortcuts(self) -> None:
        stop = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        stop.activated.connect(self.on_stop_all_button_clicked)

    def _fill_endpoint_combo(self) -> None:
        current = self.endpoint_combo.currentText()
        self.endpoint_combo.clear()
        self.endpoint_combo.addItems([e.name for e in self.settings.endpoints])
        if current:
            self.endpoint_combo.setCurrentText(current)
        self.endpoint_combo.setVisible(self.endpoint_combo.count() > 1)

    # -- queries for tests and screen readers ------------------------------

    def pane_for(self, label: str) -> ReplyPane:
        """The pane whose seat label (or model id) is `label`."""
        for pane in self.panes.values():
            if label in (pane.label, self.session.room.seat(pane.seat_id).model):
                return pane
        raise KeyError(label)

    # -- seats ------------------------------------------------------------

    @Slot()
    def on_add_seat_button_clicked(self) -> None:
        model = self.model_edit.text().strip()
        if not model:
            self.statusBar().showMessage("Type a model id to seat it.", 4000)
            return
        if len(self.session.room.seats) >= MAX_SEATS:
            self.statusBar().showMessage(f"A room holds at most {MAX_SEATS} seats.", 4000)
            return
        self._seat_model(model, self.endpoint_combo.currentText() or "openrouter")
        self.model_edit.clear()

    @Slot(str)
    def on_pane_remove_requested(self, seat_id: str) -> None:
        self.session.remove_seat(SeatId(seat_id))
        self._save_settings()

    @Slot()
    def on_session_seats_changed(self) -> None:
        seats = self.session.room.seats
        gone = [self.panes.pop(s) for s in list(self.panes) if s not in {seat.id for seat in seats}]
        self.attempt_windows.close_all(keep=frozenset(seat.id for seat in seats))
        for seat in seats:
            if seat.id not in self.panes:
                self.panes[seat.id] = self._new_pane(seat.id)
        # The area lets go of removed panes before they are deleted.
        self.pane_area.set_panes([self.panes[seat.id] for seat in seats])
        for pane in gone:
            pane.deleteLater()
        self.seat_count_label.setText(f"{len(seats)} / {MAX_SEATS} seats" if seats else "")
        self.add_seat_button.setEnabled(len(seats) < MAX_SEATS)
        self._show_right_page()

    def _new_pane(self, seat_id: SeatId) -> ReplyPane:
        from chatroom.ui.pane import ReplyPane  # deferred: start-up (see the imports)

        pane = ReplyPane(self.session.room.seat(seat_id))
        pane.stop_requested.connect(self.on_pane_stop_requested)
        pane.retry_requested.connect(self.on_pane_retry_requested)
        pane.remove_requested.connect(self.on_pane_remove_requested)
        pane.settings_requested.connect(self.on_pane_settings_requested)
        pane.maximise_requested.connect(self.on_pane_maximise_requested)
        pane.fix_requested.connect(self.on_pane_fix_requested)
        pane.attempts_requested.connect(self.on_pane_attempts_requested)
        pane.show_all_requested.connect(self.on_pane_show_all_requested)
        # A seat added later shows the room so far; a long room its last turns (all are sent).
        pane.load_turns(self.session.room.turns, shown_turn_count(self.session.room))
        self._show_attempts(pane)
        return pane

    def _show_right_page(self) -> None:
        if self._needs_welcome:
            self._stack.setCurrentIndex(_WELCOME_PAGE)
        else:
            self._stack.setCurrentIndex(_PANES_PAGE if self.session.room.seats else _HINT_PAGE)

    @Slot()
    def on_browse_button_clicked(self) -> None:
        from chatroom.ui.model_picker import ModelPicker  # deferred: start-up (see the imports)

        picker = ModelPicker(
            self.session.catalogs, self, default_endpoint=self.endpoint_combo.currentText() or "openrouter"
        )
        self.catalogs.refresh(list(endpoint_configs(self.settings, self._base_url_override)), only_stale=True)
        if picker.exec() and (chosen := picker.chosen()) is not None:
            endpoint, model = chosen
            self._seat_model(model, endpoint)

    def seat_models(self, models: Sequence[str], endpoint: str = "openrouter") -> None:
        """Seat each model, as Add seat does (a second start's --model lands here)."""
        for model in models:
            log.info("seating %s, asked by a second start", model)
            self._seat_model(model, endpoint)

    def _seat_model(self, model: str, endpoint: str) -> None:
        if len(self.session.room.seats) >= MAX_SEATS:
            self.statusBar().showMessage(f"A room holds at most {MAX_SEATS} seats.", 4000)
            return
        self.session.add_seat(model, endpoint)
        self.settings.remember_model(model)
        self._recent_model.setStringList(self.settings.recent_models)
        self.on_catalogs_catalogs_changed()
        self._save_settings()

    @Slot(str)
    def on_pane_settings_requested(self, seat_id: str) -> None:
        from chatroom.ui.seat_settings import SeatSettingsDialog  # deferred: start-up

        seat = self.session.room.seat(SeatId(seat_id))
        model = self.session.model_info(seat)
        dialog = SeatSettingsDialog(
            seat.label,
            model,
            self.params_panel.values(),
            seat.params,
            self._recommended_job(seat.endpoint, seat.model) if model is not None else None,
            self.session.run_job,
            self,
        )
        if not dialog.exec():
            return
        self.session.room.set_overrides(seat.id, dialog.overrides())
        self.session.save_settings_of_room()
        self.panes[seat.id].set_seat(seat, self.params_panel.values())
        self.pane_area.refresh_labels()
        self._estimate_timer.start()
        self._save_settings()

    async def _recommended_job(self, endpoint: str, model: str) -> Recommended | None:
        client = await self.session.clients.client_for(endpoint)
        return await fetch_recommended(client, model)

    @Slot(str)
    def on_pane_fix_requested(self, where: str) -> None:
        if where == "settings":
            self.on_settings_triggered()

    @Slot(str)
    def on_pane_maximise_requested(self, seat_id: str) -> None:
        pane = self.panes.get(SeatId(seat_id))
        if pane is not None:
            self.pane_area.toggle_maximised(pane)

    def _set_layout(self, mode: str) -> None:
        self.pane_area.set_mode(mode)
        self.settings.layout = mode
        self._save_settings_soon()

    @Slot(bool)
    def on_synced_triggered(self, checked: bool) -> None:
        self.pane_area.set_synced_scrolling(checked)
        self.settings.synced_scrolling = checked
        self._save_settings_soon()

    @Slot()
    def on_compare_triggered(self) -> None:
        """Diff two replies of the latest turn: the first two seats, or the two chosen."""
        from chatroom.ui.diff_view import DiffDialog  # deferred: start-up (see the imports)

        seats = [s for s in self.session.room.seats if self.session.latest_reply(s.id) is not None]
        if len(seats) < 2:
            self.statusBar().showMessage("Compare needs two replies: send a prompt to two seats first.", 5000)
            return
        pair = self.choose_pair([s.label for s in seats])
        if pair is None:
            return
        left, right = (seats[i] for i in pair)
        dialog = DiffDialog(
            left.label,
            self._latest_text(left.id),
            right.label,
            self._latest_text(right.id),
            self,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()

    def _latest_text(self, seat_id: SeatId) -> str:
        reply = self.session.latest_reply(seat_id)
        return reply.text if reply is not None else ""

    def _choose_pair(self, labels: list[str]) -> tuple[int, int] | None:
        """Ask which two seats to compare (the first two are preselected)."""
        from chatroom.ui.pair_dialog import PairDialog  # deferred: start-up (see the imports)

        if len(labels) == 2:
            return 0, 1
        dialog = PairDialog(labels, self)
        return dialog.pair() if dialog.exec() else None

    # -- sending ----------------------------------------------------------

    @Slot()
    def on_send_button_clicked(self) -> None:
        prompt = self.prompt_edit.toPlainText()
        if not prompt.strip():
            self.statusBar().showMessage("Type a prompt first.", 4000)
            return
        if not self.session.room.seats:
            self.statusBar().showMessage("Seat at least one model first.", 4000)
            self.model_edit.setFocus()
            return
        self.session.room.params = self.params_panel.values()
        self.session.room.system_prompt = self.params_panel.system_prompt()
        if not self._within_budget(prompt):
            return
        try:
            self.session.send(prompt)
        except ChatroomError as exc:
            self.statusBar().showMessage(str(exc), 6000)
            return
        self.prompt_edit.clear()

    @Slot()
    def on_stop_all_button_clicked(self) -> None:
        self._rerun_queue.clear()
        self.session.stop_all()

    @Slot()
    def on_rerun_last_triggered(self) -> None:
        """Send the last prompt again, as a new turn, to the seats as they are now."""
        if self.session.room.turns:
            self._rerun([self.session.room.turns[-1].prompt])

    @Slot()
    def on_rerun_room_triggered(self) -> None:
        """Send every prompt of the room again, in order, in a new room with the same seats."""
        prompts = [turn.prompt for turn in self.session.room.turns]
        if prompts:
            self.on_new_room_triggered()
            self._rerun(prompts)

    def _rerun(self, prompts: list[str]) -> None:
        if self.session.is_busy:
            self.statusBar().showMessage("Replies are still streaming: stop them or wait first.", 5000)
            return
        self._rerun_queue = list(prompts)
        self._send_next_rerun()

    def _send_next_rerun(self) -> None:
        if not self._rerun_queue or self.session.is_busy:
            return
        self.prompt_edit.setPlainText(self._rerun_queue.pop(0))
        self.on_send_button_clicked()

    @Slot(str)
    def on_pane_stop_requested(self, seat_id: str) -> None:
        self.session.stop(SeatId(seat_id))

    @Slot(str)
    def on_pane_retry_requested(self, seat_id: str) -> None:
        pane = self.panes.get(SeatId(seat_id))
        if pane is None:
            return
        pane.show_retry()
        self.session.room.params = self.params_panel.values()
        self.session.retry(SeatId(seat_id))

    @Slot(str)
    def on_pane_attempts_requested(self, seat_id: str) -> None:
        """Open (or bring forward) the seat's window of earlier attempts."""
        seat = self.session.room.seat(SeatId(seat_id))
        model = self.session.model_info(seat)
        window = self.attempt_windows.open(
            self.session.room, seat, pricing=model.pricing if model is not None else None
        )
        reply = self.session.latest_reply(seat.id)
        if reply is not None and reply.attempts:  # the header spoke of the latest turn
            window.show_turn(len(self.session.room.turns) - 1)

    @Slot(str)
    def on_pane_show_all_requested(self, seat_id: str) -> None:
        # Every pane, so that panes scrolled together stay level.
        with self._busy_cursor():
            for pane in self.panes.values():
                pane.show_all(self.session.room.turns)

    def _show_attempts(self, pane: ReplyPane) -> None:
        """The pane's note on earlier attempts, and its open attempts window, follow the room."""
        room = self.session.room
        reply = self.session.latest_reply(pane.seat_id)
        pane.set_attempts(reply.attempt if reply is not None else 1, len(room.retried_turns(pane.seat_id)))
        self.attempt_windows.follow(room, pane.seat_id)

    @Slot(int)
    def on_session_turn_started(self, index: int) -> None:
        self.comparison.hide()
        turn = self.session.room.turns[index]
        shown = shown_turn_count(self.session.room)
        for seat_id, pane in self.panes.items():
            pane.show_prompt(turn.prompt, keep_turns=shown)
            reply = turn.replies.get(seat_id)
            if reply is not None:
                pane.show_reply(reply, "")

    @Slot(str, str)
    def on_session_text_added(self, seat_id: str, text: str) -> None:
        pane = self.panes.get(SeatId(seat_id))
        if pane is not None:
            pane.append_text(text)

    @Slot(str, str)
    def on_session_reasoning_added(self, seat_id: str, text: str) -> None:
        pane = self.panes.get(SeatId(seat_id))
        if pane is not None:
            pane.append_reasoning(text)

    @Slot(str)
    def on_session_reply_changed(self, seat_id: str) -> None:
        pane = self.panes.get(SeatId(seat_id))
        reply = self.session.latest_reply(SeatId(seat_id))
        if pane is not None and reply is not None:
            pane.show_reply(reply, self.session.status_line(SeatId(seat_id)))
            self._show_metrics(SeatId(seat_id))
            self._show_attempts(pane)
            if reply.state.is_terminal:
                self._update_comparison()

    @Slot(bool)
    def on_session_idle_changed(self, idle: bool) -> None:
        self.send_button.setEnabled(idle)
        self.stop_all_button.setEnabled(not idle)
        if idle:
            self._metrics_timer.stop()
            self._estimate_timer.start()  # the history grew
            if self.history is not None:
                self.history.refresh()
            # After this slot: the session finishes its bookkeeping first.
            QTimer.singleShot(0, self._send_next_rerun)
        else:
            self._metrics_timer.start()

    @Slot()
    def on_params_panel_values_changed(self) -> None:
        self.settings.params = self.params_panel.values()
        self.settings.system_prompt = self.params_panel.system_prompt()
        self._save_settings_soon()

    # -- rooms, settings, first run ----------------------------------------

    @Slot()
    def on_new_room_triggered(self) -> None:
        old = self.session.room
        room = Room(params=dict(old.params), system_prompt=old.system_prompt)
        for seat in old.seats:
            room.add_seat(seat.model, endpoint=seat.endpoint, params=seat.params)
        self.open_room(room)
        self.prompt_edit.setFocus()

    @Slot()
    def on_settings_triggered(self) -> None:
        from chatroom.ui.settings_dialog import SettingsDialog  # deferred: start-up

        dialog = SettingsDialog(
            self.settings,
            self._keys,
            self.session.run_job,
            self,
            base_url_override=self._base_url_override,
        )
        if dialog.exec():
            self.settings = dialog.updated_settings()
            self._apply_endpoints()
            self._save_settings()
            self.catalogs.refresh(list(endpoint_configs(self.settings, self._base_url_override)), only_stale=True)

    def _apply_endpoints(self) -> None:
        self.session.clients.configure(
            endpoint_configs(self.settings, self._base_url_override), self.settings.read_timeout_s
        )
        self._fill_endpoint_combo()

    def _after_first_paint(self) -> None:
        if self._is_closed:
            return  # closed at once (the start-up benchmark does): nothing to fetch or restore
        self._fill_params_dock()
        self.catalogs.start(list(endpoint_configs(self.settings, self._base_url_override)))
        if self.history is not None:
            if self._restore_last_room:
                self.history.restore_last_room()
            else:
                self.history.refresh()
        QTimer.singleShot(0, self, _preload_renderer)
        if self._base_url_override or any(e.name != "openrouter" for e in self.settings.endpoints):
            return  # a server was chosen: it may need no key at all

        async def key_source() -> KeySource:
            import asyncio  # loaded after the first paint (start-up)

            return await asyncio.to_thread(self._keys.source, "openrouter")

        self.session.run_job(key_source(), self._on_key_source)

    def _on_key_source(self, result: KeySource | BaseException) -> None:
        if result is KeySource.NONE or isinstance(result, BaseException):
            self._needs_welcome = True
            self._show_right_page()
            if isinstance(result, ChatroomError):
                self.welcome.set_message(str(result), True)

    @Slot(str)
    def on_welcome_key_submitted(self, key: str) -> None:
        secret = ApiKey(key)
        # The welcome panel shows without --base-url only: this is where the key goes.
        base_url = self.settings.endpoint("openrouter").base_url

        async def save() -> None:
            import asyncio  # loaded after the first paint (start-up)

            # qasync's executor logs the arguments of every call at DEBUG:
            # hand it a closure, never the key itself.
            await asyncio.to_thread(lambda: self._keys.set("openrouter", secret.reveal(), base_url))

        self.session.run_job(save(), self._on_welcome_key_saved)

    def _on_welcome_key_saved(self, result: object) -> None:
        if isinstance(result, BaseException):
            self.welcome.set_message(str(result), True)
            return
        self.welcome.set_message("Key saved in the system keyring.", False)
        self._apply_endpoints()
        self._finish_welcome()

    @Slot(str)
    def on_welcome_local_server_chosen(self, url: str) -> None:
        endpoints = [e for e in self.settings.endpoints if e.name != LOCAL_ENDPOINT]
        self.settings.endpoints = [*endpoints, Endpoint(LOCAL_ENDPOINT, url)]
        self._apply_endpoints()
        self.endpoint_combo.setCurrentText(LOCAL_ENDPOINT)
        self._save_settings()
        self._finish_welcome()

    def _finish_welcome(self) -> None:
        self._needs_welcome = False
        self._show_right_page()
        self.model_edit.setFocus()

    @Slot()
    def on_shortcuts_triggered(self) -> None:
        QMessageBox.information(
            self,
            "Keyboard shortcuts",
            "Ctrl+Enter\tsend to every seat\nEnter\tnew line in the prompt\nEsc\tstop all\n"
            "Ctrl+N\tnew room\nCtrl+,\tsettings\nCtrl+Q\tquit",
        )

    @Slot()
    def on_open_log_folder_triggered(self) -> None:
        folder = paths.state_dir()
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    @Slot()
    def on_report_problem_triggered(self) -> None:
        """Copy what a bug report needs (redacted) to the clipboard."""
        QApplication.clipboard().setText(problem_report(paths.state_dir() / LOG_NAME))
        self.statusBar().showMessage(
            "Copied version, platform and the last 200 log lines (keys removed) to the clipboard.", 8000
        )

    @Slot()
    def on_about_triggered(self) -> None:
        from chatroom.ui.about_dialog import AboutDialog  # deferred: start-up (see the imports)

        # Non-modal and kept: a second click brings the same dialog forward.
        about = self.findChild(AboutDialog) or AboutDialog(self)
        bring_to_front(about)

    # -- metrics, cost, catalogue ------------------------------------------

    @Slot()
    def on_metrics_timer_timeout(self) -> None:
        for seat_id in self.panes:
            reply = self.session.latest_reply(seat_id)
            if reply is not None and reply.state.is_active:
                self._show_metrics(seat_id)

    def _metrics_of(self, seat_id: SeatId) -> ReplyMetrics | None:
        reply = self.session.latest_reply(seat_id)
        if reply is None:
            return None
        model = self.session.model_info(self.session.room.seat(seat_id))
        pricing = model.pricing if model is not None else None
        return reply_metrics(reply, pricing=pricing, started_at=reply.sent_at)

    def _show_metrics(self, seat_id: SeatId) -> None:
        metrics = self._metrics_of(seat_id)
        pane = self.panes.get(seat_id)
        if pane is not None:
            pane.set_metrics(format_metrics(metrics) if metrics is not None else "")

    def _update_comparison(self) -> None:
        """Rank the latest turn's finished replies."""
        finished: dict[str, ReplyMetrics] = {}
        for seat in self.session.room.seats:
            reply = self.session.latest_reply(seat.id)
            metrics = self._metrics_of(seat.id)
            if reply is not None and reply.state is ReplyState.DONE and metrics is not None:
                finished[seat.label] = metrics
        self.comparison.show_turn(finished)

    def _estimate_turn(self, prompt: str) -> CostRange:
        room = self.session.room
        room_params = self.params_panel.values()
        seats: list[tuple[str, Pricing | None, int | None]] = []
        prompt_tokens: list[int] = []
        for seat in room.seats:
            model = self.session.model_info(seat)
            max_tokens = merge_params(room_params, seat.params).get("max_tokens")
            ceiling = max_tokens if isinstance(max_tokens, int) else (model.max_output if model else None)
            seats.append((seat.label, model.pricing if model else None, ceiling))
            history = " ".join(m["content"] for m in room.history_for(seat.id))
            prompt_tokens.append(estimate_tokens(f"{self.params_panel.system_prompt()} {history} {prompt}"))
        return estimate_turn_cost(seats, prompt_tokens)

    @Slot()
    def _update_cost_estimate(self) -> None:
        prompt = self.prompt_edit.toPlainText()
        if not prompt.strip() or not self.session.room.seats:
            self.cost_label.setText("")
            return
        estimate = self._estimate_turn(prompt)
        priced = len(self.session.room.seats) - estimate.unknown_seats
        if priced == 0:
            self.cost_label.setText("")
            return
        high = format_usd(estimate.high) if estimate.high is not None else "?"
        text = f"≈ {format_usd(estimate.low)} – {high}"
        if estimate.unknown_seats:
            text += f" (+{estimate.unknown_seats} unpriced)"
        self.cost_label.setText(text)
        self.cost_label.setToolTip(
            "Estimated cost of this turn: prompt tokens (estimated) at each model's input price, "
            "up to max_tokens (or the model's output limit) at its output price."
        )

    def _within_budget(self, prompt: str) -> bool:
        """True to send: no budget, under it, or the user agrees to exceed it."""
        budget = self.settings.turn_budget_usd
        if budget is None:
            return True
        estimate = self._estimate_turn(prompt)
        top = estimate.high if estimate.high is not None else estimate.low
        if top <= Decimal(str(budget)):
            return True
        bound = "with no upper bound" if estimate.high is None else f"up to {format_usd(top)}"
        return self.confirm(
            "Over budget",
            f"This turn may cost {bound} (from {format_usd(estimate.low)}), over your budget of "
            f"{format_usd(Decimal(str(budget)))} per turn. Send anyway?",
        )

    def _ask(self, title: str, question: str) -> bool:
        answer = QMessageBox.question(self, title, question)
        return answer == QMessageBox.StandardButton.Yes

    @Slot()
    def on_catalogs_catalogs_changed(self) -> None:
        for seat in self.session.room.seats:
            pane = self.panes.get(seat.id)
            catalog = self.session.catalogs.get(seat.endpoint)
            if pane is None or catalog is None:
                continue
            missing = bool(catalog.models) and catalog.find(seat.model) is None
            pane.set_catalogue_note("not in catalogue" if missing else "")
        self._estimate_timer.start()

    # -- persistence ------------------------------------------------------

    def _restore_layout(self) -> None:
        if self.settings.window_geometry:
            self.restoreGeometry(QByteArray.fromBase64(self.settings.window_geometry.encode()))
        if self.settings.window_state:
            self.restoreState(QByteArray.fromBase64(self.settings.window_state.encode()))
        if self.settings.splitter_state:
            self._splitter.restoreState(QByteArray.fromBase64(self.settings.splitter_state.encode()))

    def _save_settings_soon(self) -> None:
        if not hasattr(self, "_save_timer"):
            self._save_timer = QTimer(self)
            self._save_timer.setSingleShot(True)
            self._save_timer.setInterval(500)
            self._save_timer.timeout.connect(self._save_settings)
        self._save_timer.start()

    def _save_settings(self) -> None:
        self.settings.seats = [SavedSeat(s.model, s.endpoint, dict(s.params)) for s in self.session.room.seats]
        self.settings.window_geometry = bytes(self.saveGeometry().toBase64().data()).decode()
        self.settings.window_state = bytes(self.saveState().toBase64().data()).decode()
        self.settings.splitter_state = bytes(self._splitter.saveState().toBase64().data()).decode()
        try:
            save_settings(self._settings_path, self.settings)
        except SettingsError as exc:
            self.statusBar().showMessage(str(exc), 8000)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        if self._params_panel is not None:  # closed before it was built: nothing changed
            self.settings.params = self._params_panel.values()
            self.settings.system_prompt = self._params_panel.system_prompt()
        self._save_settings()
        self.session.stop_all()
        self._is_closed = True
        super().closeEvent(event)
        self.closed.emit()
