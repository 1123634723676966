"""Keep PySide6 from holding the source text of every module imported after it.

PySide6's import hook (`shibokensupport.feature`, PYSIDE-2029) asks of every
module imported after it whether its source mentions "PySide6" (for its
`__feature__` switches), with `inspect.getsource()`. That reads the file
through `linecache`, which keeps every line for good: run from source,
about 5 million characters for the modules Chatroom loads, 13 MB of RSS
(idle: 116 -> 103 MB). A frozen bundle has no `.py` files and never paid it.

`load_qt()` imports QtCore, answers the hook's question by reading the
file's bytes instead, and empties the line cache the hook filled so far.
The hook is PySide6's private code: if its function is not where this
expects it, nothing changes but the memory (tests/ui/test_pyside_sources.py
says which).
"""

from __future__ import annotations

import linecache
import sys
from collections.abc import Callable
from types import ModuleType

__all__ = ["load_qt"]

_PATCHED = "_chatroom_reads_bytes"


def load_qt() -> bool:
    """Import PySide6.QtCore; True if its import hook now reads sources without keeping them."""
    import PySide6.QtCore  # noqa: F401  (installs the hook; ImportError goes to the caller)

    feature = sys.modules.get("shibokensupport.feature")
    original: Callable[[ModuleType], bool] | None = getattr(feature, "_mod_uses_pyside", None)
    if original is None:
        return False
    if not getattr(original, _PATCHED, False):

        def mod_uses_pyside(module: ModuleType) -> bool:
            path = getattr(module, "__file__", None)
            if not isinstance(path, str) or not path.endswith(".py"):
                return original(module)
            try:
                with open(path, "rb") as source:
                    return b"PySide6" in source.read()
            except OSError:
                return original(module)

        setattr(mod_uses_pyside, _PATCHED, True)
        feature._mod_uses_pyside = mod_uses_pyside  # type: ignore[union-attr]
    linecache.clearcache()  # what the hook read before: tracebacks read it again when needed
    return True
