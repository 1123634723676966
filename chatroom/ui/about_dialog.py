"""AboutDialog: version, Qt, PySide6 and Python versions, data folder, licence."""

from __future__ import annotations

import html
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Final

import PySide6
from PySide6.QtCore import Qt, QUrl, Slot, qVersion
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from chatroom import __version__
from chatroom.core import paths
from chatroom.core.client import APP_URL
from chatroom.ui import assets

__all__ = ["AboutDialog", "version_details"]

_ICON_PX: Final = 64
_LINKS: Final = Qt.TextInteractionFlag.LinksAccessibleByMouse | Qt.TextInteractionFlag.LinksAccessibleByKeyboard


def version_details() -> list[tuple[str, str]]:
    """(label, value) rows of what this run is made of (the title names Chatroom's version)."""
    return [
        ("Qt", qVersion()),
        ("PySide6", PySide6.__version__),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("Platform", platform.platform()),
    ]


def _link(href: str, text: str) -> str:
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


class AboutDialog(QDialog):
    """Help → About Chatroom; shown non-modally, so the window stays usable.

    The data folder and the licence are links: a click opens the folder in the
    file manager, or the licence text.
    """

    def __init__(self, parent: QWidget | None = None, *, data_dir: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Chatroom")
        self.setObjectName("AboutDialog")
        #: Opens a folder or file with the desktop (tests replace it).
        self.open_url: Callable[[QUrl], bool] = QDesktopServices.openUrl
        self.data_dir = data_dir if data_dir is not None else paths.data_dir()
        self.license_file = assets.license_path()

        column = QVBoxLayout(self)
        column.addLayout(self._build_header())
        column.addSpacing(8)
        column.addLayout(self._build_details())
        column.addSpacing(8)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = buttons.addButton("&Copy details", QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self.on_copy_button_clicked)
        buttons.rejected.connect(self.close)
        column.addWidget(buttons)

    def _build_header(self) -> QHBoxLayout:
        icon = QLabel()
        icon.setPixmap(assets.app_icon().pixmap(_ICON_PX, _ICON_PX))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        title = QLabel(
            f"<h2>Chatroom {html.escape(__version__)}</h2>"
            "<p>Send one prompt to several language models<br>"
            "and compare their replies side by side.</p>"
        )
        title.setObjectName("aboutTitle")
        row = QHBoxLayout()
        row.addWidget(icon)
        row.addSpacing(12)
        row.addWidget(title, 1)
        return row

    def _build_details(self) -> QFormLayout:
        form = QFormLayout()
        for label, value in version_details():
            field = QLabel(value)
            field.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            field.setAccessibleName(label)
            form.addRow(f"{label}:", field)
        self.data_label = QLabel(_link(QUrl.fromLocalFile(str(self.data_dir)).toString(), str(self.data_dir)))
        self.data_label.setAccessibleName("Data folder")
        self.data_label.setToolTip("Open the folder that holds your saved rooms")
        self.license_label = QLabel(_link(self._license_url().toString(), "MIT License"))
        self.license_label.setAccessibleName("Licence")
        self.website_label = QLabel(_link(APP_URL, APP_URL.removeprefix("https://")))
        self.website_label.setAccessibleName("Website")
        for link in (self.data_label, self.license_label, self.website_label):
            link.setTextInteractionFlags(_LINKS)
            link.linkActivated.connect(self.on_link_activated)
        form.addRow("Data folder:", self.data_label)
        form.addRow("Licence:", self.license_label)
        form.addRow("Website:", self.website_label)
        return form

    def _license_url(self) -> QUrl:
        if self.license_file is not None:
            return QUrl.fromLocalFile(str(self.license_file))
        return QUrl(f"{APP_URL}/blob/main/LICENSE")  # a wheel install ships no LICENSE here

    def details_text(self) -> str:
        """The versions and the data folder as plain text, for a bug report."""
        # The first line names the version, as the problem report's does.
        rows = [*version_details(), ("Data folder", str(self.data_dir)), ("Licence", "MIT")]
        return "\n".join([f"Chatroom {__version__}", *(f"{label}: {value}" for label, value in rows)])

    @Slot(str)
    def on_link_activated(self, href: str) -> None:
        url = QUrl(href)
        if url.isLocalFile() and url.toLocalFile() == str(self.data_dir):
            # The folder appears with the first saved room; open it even before.
            self.data_dir.mkdir(parents=True, exist_ok=True)
        self.open_url(url)

    @Slot()
    def on_copy_button_clicked(self) -> None:
        QApplication.clipboard().setText(self.details_text())
