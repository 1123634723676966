"""What the user reads when Qt cannot start: a missing library, plugin or display."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatroom.core.qt_requirements import (
    GUI_LIBRARIES,
    PLATFORM_LIBRARIES,
    can_load_library,
    explain_import_error,
    explain_qt_failure,
    install_hint,
    missing_libraries,
    requested_platforms,
)

#: What Qt 6.11 prints before aborting when QT_QPA_PLATFORM names no plugin.
FATAL = (
    "This application failed to start because no Qt platform plugin could be initialized. "
    "Reinstalling the application may fix this problem.\n\n"
    "Available platform plugins are: minimal, linuxfb, offscreen, xcb, wayland-egl, wayland, eglfs, vnc.\n"
)
X11 = {"DISPLAY": ":0"}


class LoaderStub:
    """A dynamic linker that lacks the given sonames and records what was asked."""

    def __init__(self, missing: set[str]) -> None:
        self.missing = missing
        self.asked: list[str] = []

    def __call__(self, soname: str) -> bool:
        self.asked.append(soname)
        return soname not in self.missing


def loads_all_but(*missing: str) -> LoaderStub:
    return LoaderStub(set(missing))


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, ["xcb"]),
        ({"QT_QPA_PLATFORM": "offscreen"}, ["offscreen"]),
        ({"QT_QPA_PLATFORM": "wayland;xcb"}, ["wayland", "xcb"]),
        ({"QT_QPA_PLATFORM": "xcb:dpi=96"}, ["xcb"]),
        ({"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}, ["wayland", "xcb"]),
        ({"XDG_SESSION_TYPE": "wayland"}, ["xcb"]),
    ],
)
def test_requested_platforms_follow_qt(environ: dict[str, str], expected: list[str]) -> None:
    assert requested_platforms(environ) == expected


def test_a_missing_xcb_library_names_its_debian_package() -> None:
    message = explain_qt_failure([FATAL], X11, can_load=loads_all_but("libxcb-cursor.so.0"), system="linux")
    assert message == (
        "Qt's xcb platform plugin needs libraries this system lacks: libxcb-cursor.so.0. "
        "On Debian or Ubuntu: sudo apt-get install libxcb-cursor0"
    )


def test_several_missing_libraries_are_named_at_once() -> None:
    loader = loads_all_but("libxcb-icccm.so.4", "libX11-xcb.so.1", "libEGL.so.1")
    message = explain_qt_failure([FATAL], X11, can_load=loader, system="linux")
    assert "libEGL.so.1, libX11-xcb.so.1, libxcb-icccm.so.4." in message
    assert message.endswith("sudo apt-get install libegl1 libx11-xcb1 libxcb-icccm4")


def test_an_unknown_platform_lists_the_plugins_there_are() -> None:
    message = explain_qt_failure(
        ['Could not find the Qt platform plugin "nonexistent" in ""', FATAL],
        {"QT_QPA_PLATFORM": "nonexistent"},
        can_load=loads_all_but(),
        system="linux",
    )
    assert message.startswith('Qt has no platform plugin "nonexistent" (asked for by QT_QPA_PLATFORM)')
    assert "eglfs, linuxfb, minimal, offscreen, vnc, wayland, wayland-egl, xcb." in message


def test_no_display_is_said_plainly() -> None:
    # Qt itself blames libxcb-cursor0 here, though every library is present.
    qt_says = ["could not connect to display ", "From 6.5.0, xcb-cursor0 or libxcb-cursor0 is needed", FATAL]
    message = explain_qt_failure(qt_says, {}, can_load=loads_all_but(), system="linux")
    assert message.startswith("No X display: DISPLAY is not set.")
    assert "QT_QPA_PLATFORM=offscreen" in message


def test_an_unreachable_display_is_named() -> None:
    qt_says = ["could not connect to display :99", FATAL]
    message = explain_qt_failure(qt_says, {"DISPLAY": ":99"}, can_load=loads_all_but(), system="linux")
    assert message.startswith("Cannot open the X display ':99'")


def test_wayland_without_a_display() -> None:
    environ = {"QT_QPA_PLATFORM": "wayland"}
    message = explain_qt_failure([FATAL], environ, can_load=loads_all_but(), system="linux")
    assert message.startswith("No Wayland display")
    missing = loads_all_but("libwayland-client.so.0")
    assert "sudo apt-get install libwayland-client0" in explain_qt_failure([FATAL], environ, can_load=missing, system="linux")


def test_a_failure_nothing_explains_quotes_qt() -> None:
    message = explain_qt_failure(["", FATAL], X11, can_load=loads_all_but(), system="linux")
    assert message == (
        "Qt could not start its platform plugin: This application failed to start because no Qt "
        "platform plugin could be initialized. Reinstalling the application may fix this problem."
    )
    assert explain_qt_failure([], X11, can_load=loads_all_but(), system="linux").endswith("no message")


def test_other_systems_get_qts_words_and_no_library_probing() -> None:
    loader = loads_all_but("libxcb.so.1")
    message = explain_qt_failure([FATAL], {}, can_load=loader, system="win32")
    assert message.startswith("Qt could not start its platform plugin: This application failed")
    assert loader.asked == []


def test_an_import_error_names_the_library_and_any_other_missing() -> None:
    error = "libEGL.so.1: cannot open shared object file: No such file or directory"
    message = explain_import_error(error, can_load=loads_all_but("libEGL.so.1", "libfontconfig.so.1"))
    assert message == (
        "Qt cannot start: this system lacks libEGL.so.1, libfontconfig.so.1. "
        "On Debian or Ubuntu: sudo apt-get install libegl1 libfontconfig1"
    )


def test_an_import_error_about_an_unknown_library_still_names_it() -> None:
    error = "libicui18n.so.73: cannot open shared object file: No such file or directory"
    assert explain_import_error(error, can_load=loads_all_but()) == (
        "Qt cannot start: this system lacks libicui18n.so.73."
    )


def test_other_import_errors_are_not_ours_to_explain() -> None:
    assert explain_import_error("No module named 'chatroom.ui.nothing'", can_load=loads_all_but()) is None


def test_missing_libraries_keeps_order_and_drops_repeats() -> None:
    loader = loads_all_but("b", "c")
    assert missing_libraries(["c", "a", "b", "c"], loader) == ["c", "b"]
    assert loader.asked == ["c", "a", "b"]


def test_install_hint_without_a_known_package() -> None:
    assert install_hint(["libnothing.so.1"]) == "libnothing.so.1."


def test_every_library_has_a_debian_package() -> None:
    tables = [GUI_LIBRARIES, *PLATFORM_LIBRARIES.values()]
    assert all(".so." in name and package for table in tables for name, package in table.items())


def test_the_real_loader() -> None:
    assert can_load_library("libc.so.6")
    assert not can_load_library("libchatroom-does-not-exist.so.0")


def test_the_real_loader_looks_into_a_frozen_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys._MEIPASS", str(tmp_path), raising=False)
    name = "libchatroom-bundled.so.0"
    assert not can_load_library(name)
    (tmp_path / name).write_bytes(b"")
    assert can_load_library(name)
