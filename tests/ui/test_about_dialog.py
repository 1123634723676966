"""Help → About Chatroom: versions, data folder, licence; never modal."""

from __future__ import annotations

import platform
import re
from pathlib import Path

import PySide6
from PySide6.QtCore import QUrl, qVersion
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QLabel
from pytestqt.qtbot import QtBot

from chatroom import __version__
from chatroom.ui.about_dialog import AboutDialog
from tests.ui.conftest import WindowFactory

ROOT = Path(__file__).resolve().parents[2]


def shown_text(dialog: AboutDialog) -> str:
    return "\n".join(label.text() for label in dialog.findChildren(QLabel))


def href(label: QLabel) -> str:
    match = re.search(r'href="([^"]+)"', label.text())
    assert match is not None, label.text()
    return match.group(1)


def make_dialog(qtbot: QtBot, data_dir: Path) -> tuple[AboutDialog, list[QUrl]]:
    dialog = AboutDialog(data_dir=data_dir)
    qtbot.addWidget(dialog)
    opened: list[QUrl] = []

    def open_url(url: QUrl) -> bool:
        opened.append(url)
        return True

    dialog.open_url = open_url
    return dialog, opened


def test_the_help_menu_opens_one_non_modal_about_dialog(make_window: WindowFactory, qtbot: QtBot) -> None:
    window = make_window()
    action = next(a for a in window.findChildren(QAction) if a.text() == "&About Chatroom")
    action.trigger()
    dialog = window.findChild(AboutDialog)
    assert dialog is not None
    qtbot.waitExposed(dialog)
    assert not dialog.isModal()
    assert window.isEnabled()  # the window stays usable behind it
    action.trigger()
    assert window.findChildren(AboutDialog) == [dialog]  # the same one, brought forward
    dialog.close()


def test_it_shows_versions_data_folder_and_licence(qtbot: QtBot, tmp_path: Path) -> None:
    dialog, _ = make_dialog(qtbot, tmp_path / "data")
    text = shown_text(dialog)
    for expected in (
        f"Chatroom {__version__}",
        qVersion(),
        PySide6.__version__,
        platform.python_version(),
        str(tmp_path / "data"),
        "MIT License",
    ):
        assert expected in text
    assert dialog.data_label.accessibleName() == "Data folder"


def test_the_data_folder_link_opens_it_even_before_it_exists(qtbot: QtBot, tmp_path: Path) -> None:
    data_dir = tmp_path / "data" / "chatroom"
    dialog, opened = make_dialog(qtbot, data_dir)
    dialog.data_label.linkActivated.emit(href(dialog.data_label))
    assert opened == [QUrl.fromLocalFile(str(data_dir))]
    assert data_dir.is_dir()


def test_the_licence_link_opens_the_licence_file(qtbot: QtBot, tmp_path: Path) -> None:
    dialog, opened = make_dialog(qtbot, tmp_path)
    dialog.license_label.linkActivated.emit(href(dialog.license_label))
    assert opened == [QUrl.fromLocalFile(str(ROOT / "LICENSE"))]
    assert "MIT License" in (ROOT / "LICENSE").read_text()


def test_without_a_licence_file_the_link_goes_to_the_repository(qtbot: QtBot, tmp_path: Path) -> None:
    dialog, _ = make_dialog(qtbot, tmp_path)
    dialog.license_file = None
    assert dialog._license_url().toString().endswith("/blob/main/LICENSE")


def test_copy_details_puts_a_bug_report_header_on_the_clipboard(qtbot: QtBot, tmp_path: Path) -> None:
    dialog, _ = make_dialog(qtbot, tmp_path / "data")
    dialog.copy_button.click()
    copied = QApplication.clipboard().text()
    assert copied.splitlines()[0] == f"Chatroom {__version__}"
    assert f"Qt: {qVersion()}" in copied and f"Data folder: {tmp_path / 'data'}" in copied
