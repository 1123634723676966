"""RoomSession: the one owner of asyncio tasks; runs the replies of one room.

Widgets call `send`, `stop`, `stop_all` and `retry`, and listen to the signals.
Each streaming reply is one task in `_tasks`, keyed by seat. Events update the
core Reply at once; new text is buffered per seat and one QTimer (about 30 Hz)
hands it to the panes, so the UI's work per token does not grow with the number
of tokens or panes.
"""

from __future__ import annotations

# asyncio is imported where it is used: the app paints its first frame
# before it loads asyncio (docs/performance.md, "Start-up").
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from chatroom.core.catalog import Catalog, ModelInfo
from chatroom.core.errors import (
    AuthError,
    ChatroomError,
    KeyOriginMismatch,
    KeyringUnavailable,
    StreamInterrupted,
)
from chatroom.core.logs import redact
from chatroom.core.metrics import estimate_tokens
from chatroom.core.protocol import (
    Delta,
    ReasoningDelta,
    Retrying,
    StreamEvent,
    apply_event,
    build_request,
)
from chatroom.core.room import Reply, ReplyState, Room, Seat, SeatId, Turn
from chatroom.core.secrets import ApiKey, KeyStore

if TYPE_CHECKING:
    import asyncio

    from chatroom.core.client import ChatClient
    from chatroom.ui.history_writer import HistoryWriter

__all__ = ["ClientPool", "EndpointConfig", "RoomSession"]

log = logging.getLogger(__name__)

T = TypeVar("T")

FLUSH_INTERVAL_MS: Final = 33
#: A streaming reply is saved at most this often (and at every state change).
SAVE_INTERVAL_S: Final = 1.0


@dataclass(frozen=True)
class EndpointConfig:
    """Where an endpoint lives and how many replies it streams at once (None = no limit).

    Its key stays in the keyring until a request needs it. `saved_url` is the
    endpoint's URL in the settings when --base-url replaces it for this run
    (see KeyStore.get for what that means for the key); None otherwise.
    """

    name: str
    base_url: str
    max_concurrent: int | None = None
    saved_url: str | None = None


class ClientPool:
    """One ChatClient per endpoint, created on first use with the key from the keyring."""

    def __init__(
        self,
        endpoints: Mapping[str, EndpointConfig],
        keys: KeyStore,
        *,
        read_timeout_s: float = 120.0,
    ) -> None:
        self._endpoints = dict(endpoints)
        self._keys = keys
        self.read_timeout_s = read_timeout_s
        self._clients: dict[str, ChatClient] = {}
        self._retired: list[ChatClient] = []
        self._slots: dict[str, asyncio.Semaphore] = {}
        # Seats of one endpoint start together: read its key once, not once per seat.
        self._lock: asyncio.Lock | None = None  # made on first use, once asyncio is loaded

    def configure(self, endpoints: Mapping[str, EndpointConfig], read_timeout_s: float) -> None:
        """New URLs, keys or timeout: later requests get fresh clients."""
        self._endpoints = dict(endpoints)
        self.read_timeout_s = read_timeout_s
        self._retired.extend(self._clients.values())
        self._clients.clear()
        self._slots.clear()  # replies already queued keep their old slots

    def slots(self, name: str) -> asyncio.Semaphore | None:
        """The endpoint's concurrency limit as a semaphore; None when unlimited."""
        config = self._endpoints.get(name)
        if config is None or config.max_concurrent is None:
            return None
        if name not in self._slots:
            import asyncio

            self._slots[name] = asyncio.Semaphore(config.max_concurrent)
        return self._slots[name]

    def endpoint(self, name: str) -> EndpointConfig:
        return self._endpoints[name]

    async def client_for(self, name: str) -> ChatClient:
        import asyncio

        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            client = self._clients.get(name)
            if client is not None:
                return client
            config = self._endpoints.get(name)
            if config is None:
                raise ChatroomError(f"No endpoint named {name!r}; add it in Settings.")
            key = await self._read_key(config)
            # Importing httpx (about 85 ms) and loading the TLS trust store
            # (30-90 ms) happen in a worker so the window never stalls on them.
            client = await asyncio.to_thread(self._new_client, config, key)
            self._clients[name] = client
            return client

    def _new_client(self, config: EndpointConfig, key: ApiKey | None) -> ChatClient:
        from chatroom.core.client import ChatClient

        is_openrouter = config.name == "openrouter" and "openrouter.ai" in config.base_url
        return ChatClient(
            config.base_url, key, attribution=is_openrouter, read_timeout_s=self.read_timeout_s
        )

    async def _read_key(self, config: EndpointConfig) -> ApiKey | None:
        """The endpoint's key; KeyOriginMismatch, and no request, if it is another server's."""
        import asyncio

        try:
            # Keyring backends block (D-Bus, a password prompt): off the GUI thread.
            return await asyncio.to_thread(
                self._keys.get, config.name, config.base_url, saved_url=config.saved_url
            )
        except KeyringUnavailable:
            # A local server needs no key; OpenRouter answers 401, which says what to do.
            log.warning("no keyring available; sending without a key")
            return None

    async def aclose(self) -> None:
        clients = [*self._clients.values(), *self._retired]
        self._clients.clear()
        self._retired.clear()
        for client in clients:
            await client.aclose()


class RoomSession(QObject):
    """Runs the replies of one room.

    Signals:
        turn_started(int): a turn was added at that index; panes show its prompt.
        text_added(str, str): new reply text for a seat's latest reply (throttled).
        reasoning_added(str, str): new reasoning text for a seat's latest reply (throttled).
        reply_changed(str): a seat's latest reply changed state or status line.
        seats_changed(): seats were added, removed or relabelled.
        idle_changed(bool): True when no reply is active any more, False when one starts.
    """

    turn_started = Signal(int)
    text_added = Signal(str, str)
    reasoning_added = Signal(str, str)
    reply_changed = Signal(str)
    seats_changed = Signal()
    idle_changed = Signal(bool)

    def __init__(self, room: Room, clients: ClientPool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.room = room
        self._clients = clients
        # The task streaming each seat's latest reply; a task replaced by a
        # retry or a new room stays in _replies until it has ended.
        self._tasks: dict[SeatId, asyncio.Task[None]] = {}
        self._replies: set[asyncio.Task[None]] = set()
        self._jobs: set[asyncio.Task[Any]] = set()
        #: Jobs waiting for the app's event loop (see hold_jobs); None once it runs.
        self._held_jobs: list[tuple[Coroutine[Any, Any, Any], Callable[[Any], None]]] | None = None
        #: Model catalogues per endpoint (loaded and refreshed by the window).
        self.catalogs: dict[str, Catalog] = {}
        #: Where rooms are saved as they stream; None keeps no history (tests, no store).
        self.history: HistoryWriter | None = None
        self._saving: dict[SeatId, Callable[..., None]] = {}
        self._saved_at: dict[int, float] = {}
        self._closed = False
        self._pending: dict[SeatId, list[str]] = {}
        self._pending_reasoning: dict[SeatId, list[str]] = {}
        self._status: dict[SeatId, str] = {}
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(FLUSH_INTERVAL_MS)
        self._flush_timer.timeout.connect(self.on_flush_timer_timeout)

    # -- queries ---------------------------------------------------------

    @property
    def is_busy(self) -> bool:
        return bool(self._tasks)

    def latest_reply(self, seat_id: SeatId) -> Reply | None:
        if not self.room.turns:
            return None
        return self.room.turns[-1].replies.get(seat_id)

    def model_info(self, seat: Seat) -> ModelInfo | None:
        """The seat's model in its endpoint's catalogue, when there is one."""
        catalog = self.catalogs.get(seat.endpoint)
        return catalog.find(seat.model) if catalog is not None else None

    def status_line(self, seat_id: SeatId) -> str:
        """A transient note for the pane, e.g. 'retrying in 2 s'."""
        return self._status.get(seat_id, "")

    # -- seats -----------------------------------------------------------

    def add_seat(self, model: str, endpoint: str = "openrouter") -> Seat:
        seat = self.room.add_seat(model, endpoint=endpoint)
        self.save_settings_of_room()
        self.seats_changed.emit()
        return seat

    def remove_seat(self, seat_id: SeatId) -> None:
        self.stop(seat_id)
        self.room.remove_seat(seat_id)
        self.save_settings_of_room()
        self.seats_changed.emit()

    def save_settings_of_room(self) -> None:
        """Save the room's title, seats and parameters (not its turns), once it has turns."""
        if self.history is not None and self.room.turns:
            self.history.save_room_settings(self.room)

    # -- sending ---------------------------------------------------------

    def send(self, prompt: str) -> Turn | None:
        """Start a turn for every seat; None when there is nothing to send."""
        if not prompt.strip() or not self.room.seats:
            return None
        if self._tasks:
            # A new turn while replies stream would give seats different histories.
            raise ChatroomError("Replies are still streaming: stop them or wait before sending.")
        turn = self.room.start_turn(prompt)
        if self.history is not None:
            self.history.save_turn(self.room, len(self.room.turns) - 1)
        self.turn_started.emit(len(self.room.turns) - 1)
        for seat in self.room.seats:
            self._start(turn, seat)
        return turn

    def retry(self, seat_id: SeatId) -> None:
        """Send the latest turn again to one seat whose reply ended early."""
        if not self.room.turns or seat_id in self._tasks:
            return
        turn = self.room.turns[-1]
        reply = turn.replies.get(seat_id)
        if reply is not None and not reply.state.is_terminal:
            return
        if reply is None:
            turn.replies[seat_id] = Reply(seat_id)
        else:
            self.room.retry_reply(turn, seat_id)
        self._start(turn, self.room.seat(seat_id))

    def stop(self, seat_id: SeatId) -> None:
        task = self._tasks.get(seat_id)
        if task is not None:
            task.cancel()

    def stop_all(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()

    def run_job(
        self,
        job: Coroutine[Any, Any, T],
        on_done: Callable[[T | BaseException], None],
    ) -> None:
        """Run a short background job (keyring, test connection) off the widgets.

        `on_done` gets the result or the exception, on the GUI thread; it is not
        called when the job is cancelled (window closed).
        """

        if self._closed:
            job.close()  # a late callback after the window closed: nothing to run
            return
        if self._held_jobs is not None:
            self._held_jobs.append((job, on_done))
            return
        import asyncio

        def done(task: asyncio.Task[T]) -> None:
            if task.cancelled():
                return
            error = task.exception()
            on_done(error if error is not None else task.result())

        # The job itself is the task (no wrapper coroutine): cancelled before
        # its first step, it is closed by asyncio, never left un-awaited.
        task = asyncio.get_event_loop().create_task(job)
        task.add_done_callback(done)
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    def hold_jobs(self) -> None:
        """Queue the jobs asked for from now on: the app's asyncio loop is not running yet.

        The app paints its first frame with Qt alone and loads asyncio after it
        (docs/performance.md, "Start-up"); what the window starts after that
        paint waits here until `release_jobs`.
        """
        self._held_jobs = []

    def release_jobs(self) -> None:
        """Start the held jobs in order, on the now running loop; later jobs start at once."""
        held, self._held_jobs = self._held_jobs or [], None
        for job, on_done in held:
            self.run_job(job, on_done)

    @property
    def clients(self) -> ClientPool:
        return self._clients

    def replace_room(self, room: Room) -> None:
        """Go on with `room`; the old room's replies are stopped and leave the panes alone."""
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
        self._pending.clear()
        self._pending_reasoning.clear()
        self._status.clear()
        self.room = room
        self.idle_changed.emit(True)
        self.seats_changed.emit()

    async def aclose(self) -> None:
        """Stop every reply and job, wait for them to end, close the HTTP clients."""
        import asyncio

        self._closed = True
        for job, _on_done in self._held_jobs or []:
            job.close()  # never started: closed, not left un-awaited
        self._held_jobs = None
        tasks = [*self._replies, *self._jobs]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._clients.aclose()

    def _start(self, turn: Turn, seat: Seat) -> None:
        if self._closed:
            return
        import asyncio

        was_idle = not self._tasks
        self._status.pop(seat.id, None)
        task = asyncio.get_event_loop().create_task(self._run_reply(turn, seat))
        self._tasks[seat.id] = task
        self._replies.add(task)
        task.add_done_callback(self._replies.discard)
        self.reply_changed.emit(seat.id)
        if was_idle:
            self.idle_changed.emit(False)
        self._flush_timer.start()

    # -- one reply -------------------------------------------------------

    async def _run_reply(self, turn: Turn, seat: Seat) -> None:
        import asyncio

        reply = turn.replies[seat.id]
        # Saves name the room and turn the reply was started in, even if the
        # user has moved to another room by the time it ends.
        save = functools.partial(self._save_reply, self.room.id, self.room.turns.index(turn), seat.label)
        self._saving[seat.id] = save
        try:
            # The request is opened only once a slot is free, so a queued
            # reply's read timeout does not run while it waits.
            async with self._slot_for(seat, reply):
                await self._stream(turn, seat, reply)
            self._end(reply, ReplyState.DONE)
        except asyncio.CancelledError:
            self._end(reply, ReplyState.STOPPED)
            raise
        except StreamInterrupted as exc:
            self._end(reply, ReplyState.INTERRUPTED, str(exc))
        except ChatroomError as exc:
            if isinstance(exc, AuthError) or (
                isinstance(exc, KeyOriginMismatch) and not exc.is_run_override
            ):
                reply.error_fix = "settings"
            self._end(reply, ReplyState.FAILED, str(exc))
        except Exception as exc:  # the top of a task: nothing may escape unseen
            log.exception("unexpected error in a reply of %s", seat.model)
            self._end(reply, ReplyState.FAILED, f"Unexpected error ({type(exc).__name__}); see the log.")
        finally:
            save(reply, force=True)
            self._finish_task(seat.id)

    def _is_current(self, seat_id: SeatId) -> bool:
        """Whether the running task still owns the seat's pane (no new room since)."""
        import asyncio

        return self._tasks.get(seat_id) is asyncio.current_task()

    def _slot_for(
        self, seat: Seat, reply: Reply
    ) -> asyncio.Semaphore | contextlib.nullcontext[None]:
        slots = self._clients.slots(seat.endpoint)
        if slots is None:
            return contextlib.nullcontext()
        if slots.locked():
            reply.move_to(ReplyState.QUEUED)
            if self._is_current(seat.id):
                self._saving[seat.id](reply, force=True)
                self.reply_changed.emit(seat.id)
        return slots

    async def _stream(self, turn: Turn, seat: Seat, reply: Reply) -> None:
        if reply.state is ReplyState.QUEUED:
            reply.move_to(ReplyState.WAITING)
            if self._is_current(seat.id):
                self.reply_changed.emit(seat.id)
        reply.sent_at = time.time()
        client = await self._clients.client_for(seat.endpoint)
        messages = self.room.messages_for(seat.id, turn)
        reply.prompt_tokens_estimate = estimate_tokens(" ".join(m["content"] for m in messages))
        model = self.model_info(seat)
        params = self.room.effective_params(seat, model.supports if model else None)
        body = build_request(seat.model, messages, params, ask_usage=True)
        events = client.stream_chat(body)
        async with contextlib.aclosing(events):
            async for event in events:
                self._apply(seat.id, reply, event)

    def _apply(self, seat_id: SeatId, reply: Reply, event: StreamEvent) -> None:
        if not self._is_current(seat_id):
            return  # a reply of a room the user left: stopping, nothing to show
        was_streaming = reply.state is ReplyState.STREAMING
        apply_event(reply, event)
        if isinstance(event, Delta):
            self._pending.setdefault(seat_id, []).append(event.text)
            self._saving[seat_id](reply, force=not was_streaming)
            if not was_streaming:
                self._status.pop(seat_id, None)
                self.reply_changed.emit(seat_id)
        elif isinstance(event, ReasoningDelta):
            self._pending_reasoning.setdefault(seat_id, []).append(event.text)
            if not was_streaming:
                self._status[seat_id] = "reasoning…"
                self.reply_changed.emit(seat_id)
        elif isinstance(event, Retrying):
            # To the nearest second: a hint of 1 s is waited for 1.05–1.25 s.
            delay_s = max(1, round(event.delay_s))
            self._status[seat_id] = f"retrying in {delay_s} s (attempt {event.attempt + 1})"
            self.reply_changed.emit(seat_id)

    def _save_reply(
        self, room_id: str, turn_index: int, label: str, reply: Reply, *, force: bool = False
    ) -> None:
        """Hand the reply to the history writer: at state changes, else at most once a second.

        A crash then loses at most SAVE_INTERVAL_S of text.
        """
        if self.history is None:
            return
        now = time.monotonic()
        if not force and now - self._saved_at.get(id(reply), 0.0) < SAVE_INTERVAL_S:
            return
        self._saved_at[id(reply)] = now
        if reply.state.is_terminal:
            self._saved_at.pop(id(reply), None)
        self.history.save_reply(room_id, turn_index, reply, label)

    def _end(self, reply: Reply, state: ReplyState, error: str | None = None) -> None:
        if reply.state.is_terminal:
            return
        # A server may quote the request back in its error: never show or store a key.
        reply.error = redact(error) if error else None
        reply.move_to(state)

    def _finish_task(self, seat_id: SeatId) -> None:
        if not self._is_current(seat_id):
            return
        del self._tasks[seat_id]
        self._flush_seat(seat_id)
        if self._status.get(seat_id, "").startswith(("retrying", "reasoning")):
            self._status.pop(seat_id, None)
        self.reply_changed.emit(seat_id)
        if not self._tasks:
            self.idle_changed.emit(True)

    # -- throttled UI updates --------------------------------------------

    @Slot()
    def on_flush_timer_timeout(self) -> None:
        for seat_id in {*self._pending, *self._pending_reasoning}:
            self._flush_seat(seat_id)
        if not self._tasks:
            self._flush_timer.stop()

    def _flush_seat(self, seat_id: SeatId) -> None:
        reasoning = self._pending_reasoning.pop(seat_id, None)
        if reasoning:
            self.reasoning_added.emit(seat_id, "".join(reasoning))
        parts = self._pending.pop(seat_id, None)
        if parts:
            self.text_added.emit(seat_id, "".join(parts))
