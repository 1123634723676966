"""SingleInstance: one running Chatroom per user and config dir; a second start hands over.

The first instance takes a lock file and, once its window has painted,
listens on a local socket (a Unix socket in the temp dir, a named pipe on
Windows). A later start for the same user and config dir finds the lock taken,
sends its arguments over the socket (retrying until the first listens), waits
for "ok" and exits; the first brings its window forward. Two windows on one
config dir would overwrite each other's settings. QtNetwork is imported only
to listen or to hand over: the first frame does not wait for it (start-up,
docs/performance.md).

A crashed instance leaves both files behind: QLockFile sees that the process
in the lock is gone and hands the lock over, and the new owner removes the old
socket before it listens. Only the real GUI start uses this class: the
subcommands, --version and tests that build windows in-process never do.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from PySide6.QtCore import QDeadlineTimer, QDir, QLockFile, QObject, Signal, Slot

if TYPE_CHECKING:
    from PySide6.QtNetwork import QLocalServer, QLocalSocket

__all__ = ["SingleInstance", "instance_key"]

log = logging.getLogger(__name__)

#: The first instance answers this to a hand-over it has acted on.
ACK: Final = b"ok\n"
#: A hand-over is one short JSON line; anything longer is not ours.
MAX_MESSAGE_BYTES: Final = 64 * 1024
_RETRY_S: Final = 0.05


def instance_key(config_dir: Path) -> str:
    """A name per user and config dir, short enough for a Unix socket path."""
    if hasattr(os, "getuid"):
        user = str(os.getuid())
    else:  # Windows: getpass (with termios) loads only here
        import getpass

        user = getpass.getuser()
    digest = hashlib.sha256(os.fsencode(config_dir.absolute())).hexdigest()[:16]
    return f"chatroom-{user}-{digest}"


class SingleInstance(QObject):
    """The lock and the socket that make a second start hand over to the first.

    Signals:
        activation_requested(argv, activation_token): another start asked this
            one to come forward; carries that start's arguments and its
            XDG_ACTIVATION_TOKEN ("" if it had none).
    """

    activation_requested = Signal(list, str)

    def __init__(self, config_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.key = instance_key(config_dir)
        self.lock_path = Path(QDir.tempPath()) / f"{self.key}.lock"
        self._lock = QLockFile(str(self.lock_path))
        # 0: a lock is stale only when its process is gone, never for its age
        # (the default, 30 s, would let a second start steal a live lock).
        self._lock.setStaleLockTime(0)
        self._server: QLocalServer | None = None

    def acquire(self) -> bool:
        """True if this is the first instance (then `listen()`); False if another runs."""
        if self._lock.tryLock(0):
            return True
        if self._lock.error() == QLockFile.LockError.LockFailedError:
            return False
        # A read-only or foreign temp dir: better two windows than none.
        log.warning("cannot take %s (%s); a second start will open a second window",
                    self.lock_path, self._lock.error().name)
        return True

    def release(self) -> None:
        """Stop listening and drop the lock (at the end of the run)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        self._lock.unlock()

    def listen(self) -> None:
        """Take hand-overs from later starts; only the holder of the lock listens."""
        if not self._lock.isLocked() or self._server is not None:
            return
        from PySide6.QtNetwork import QLocalServer  # deferred: see the module docstring

        QLocalServer.removeServer(self.key)  # a crashed instance's socket file
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.key):
            log.warning("a second start cannot reach this one: %s", server.errorString())
            return
        server.newConnection.connect(self.on_server_new_connection)
        self._server = server

    @Slot()
    def on_server_new_connection(self) -> None:
        assert self._server is not None
        while (socket := self._server.nextPendingConnection()) is not None:
            socket.readyRead.connect(functools.partial(self._read_hand_over, socket))
            socket.disconnected.connect(socket.deleteLater)

    def _read_hand_over(self, socket: QLocalSocket) -> None:
        if not socket.canReadLine():
            if socket.bytesAvailable() > MAX_MESSAGE_BYTES:
                socket.abort()
            return
        try:
            message = json.loads(bytes(socket.readLine().data()))
            argv = [str(arg) for arg in message["argv"]]
            token = str(message.get("activation_token", ""))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignored a malformed hand-over: %s", exc)
            socket.abort()
            return
        socket.write(ACK)
        socket.flush()
        socket.disconnectFromServer()
        self.activation_requested.emit(argv, token)

    def hand_over(self, argv: Sequence[str], activation_token: str = "", timeout_ms: int = 5000) -> bool:
        """Send `argv` to the running instance; True once it has answered.

        Blocking, and only called before this process has a window.
        """
        from PySide6.QtNetwork import QLocalSocket  # deferred: see the module docstring

        deadline = QDeadlineTimer(timeout_ms)
        socket = QLocalSocket()
        while True:
            socket.connectToServer(self.key)
            if socket.waitForConnected(max(0, deadline.remainingTime())):
                break
            if deadline.hasExpired():
                return False
            # The first instance may be between its lock and listen() (it
            # listens once its window has painted); no window exists here
            # yet, so a short sleep freezes nothing.
            time.sleep(_RETRY_S)
        message = {"argv": list(argv), "activation_token": activation_token}
        socket.write(json.dumps(message).encode() + b"\n")
        while not socket.canReadLine():
            if deadline.hasExpired() or not socket.waitForReadyRead(max(0, deadline.remainingTime())):
                return False
        return bytes(socket.readLine().data()) == ACK
