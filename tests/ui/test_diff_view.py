"""DiffDialog: marks, similarity, untrusted text shown as text, sides scrolled together."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QCheckBox, QLabel, QTextBrowser
from pytestqt.qtbot import QtBot

from chatroom.ui.diff_view import DiffDialog

pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")


def make_dialog(qtbot: QtBot, left: str, right: str, left_label: str = "gpt", right_label: str = "claude") -> DiffDialog:
    dialog = DiffDialog(left_label, left, right_label, right)
    qtbot.addWidget(dialog)
    return dialog


def child(dialog: DiffDialog, kind: type[QLabel] | type[QTextBrowser] | type[QCheckBox], name: str) -> object:
    found = [widget for widget in dialog.findChildren(kind) if widget.accessibleName() == name]
    assert len(found) == 1, name
    return found[0]


def marked_words(html_text: str) -> list[str]:
    """Texts of the spans that carry a background colour."""
    return re.findall(r'<span style="[^"]*background-color:[^"]*">([^<]*)</span>', html_text)


def test_title_names_and_read_only_sides(qtbot: QtBot) -> None:
    dialog = make_dialog(qtbot, "a b", "a c")
    assert dialog.windowTitle() == "Compare: gpt ↔ claude"
    for name in ("Diff left", "Diff right"):
        view = child(dialog, QTextBrowser, name)
        assert isinstance(view, QTextBrowser) and view.isReadOnly()
    assert dialog.left_view.toPlainText() == "a b"
    assert dialog.right_view.toPlainText() == "a c"


def test_similarity_label(qtbot: QtBot) -> None:
    dialog = make_dialog(qtbot, "one two three", "one two four")
    label = child(dialog, QLabel, "Similarity")
    assert isinstance(label, QLabel)
    assert label.text() == "Similarity: 67 %"
    assert make_dialog(qtbot, "same", "same").similarity_label.text() == "Similarity: 100 %"


def test_changes_are_marked_on_their_side(qtbot: QtBot) -> None:
    dialog = make_dialog(qtbot, "the quick cat sat down", "the cat sat right down")
    left_html, right_html = dialog.left_view.toHtml(), dialog.right_view.toHtml()
    assert marked_words(left_html) == ["quick "]
    assert marked_words(right_html) == ["right "]
    assert "background-color:rgba(229,57,53" in left_html  # red, translucent
    assert "background-color:rgba(67,160,71" in right_html  # green, translucent


def test_replacements_are_marked_on_both_sides(qtbot: QtBot) -> None:
    dialog = make_dialog(qtbot, "the cat sat", "the dog sat")
    assert marked_words(dialog.left_view.toHtml()) == ["cat"]
    assert marked_words(dialog.right_view.toHtml()) == ["dog"]


def test_model_text_is_shown_as_text_never_as_html(qtbot: QtBot) -> None:
    hostile = "<script>alert(1)</script> and <b>bold</b> &amp; <img src='http://x/y.png'>"
    dialog = make_dialog(qtbot, hostile, hostile + " more", left_label="<i>evil</i>")
    assert dialog.left_view.toPlainText() == hostile
    html_text = dialog.left_view.toHtml()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_text
    assert "<b>" not in html_text and "<img" not in html_text
    assert "&amp;amp;" in html_text  # the literal "&amp;" stays literal
    legend = child(dialog, QLabel, "Legend")
    assert isinstance(legend, QLabel) and "&lt;i&gt;evil&lt;/i&gt;" in legend.text()
    assert dialog.windowTitle() == "Compare: <i>evil</i> ↔ claude"  # a title is plain text


def top_line(view: QTextBrowser) -> str:
    return view.cursorForPosition(QPoint(0, 0)).block().text()


def test_the_sides_scroll_together_level_on_the_same_passage(qtbot: QtBot) -> None:
    common = "\n".join(f"Shared line {n}." for n in range(200))
    extra = "\n".join(f"Only the right has line {n}." for n in range(60))
    dialog = make_dialog(qtbot, common, extra + "\n" + common)
    dialog.show()
    qtbot.waitExposed(dialog)
    left_bar, right_bar = dialog.left_view.verticalScrollBar(), dialog.right_view.verticalScrollBar()
    qtbot.waitUntil(lambda: left_bar.maximum() > 0 and right_bar.maximum() > left_bar.maximum())

    left_bar.setValue(left_bar.maximum() // 2)
    assert top_line(dialog.left_view).startswith("Shared line")
    assert top_line(dialog.right_view) == top_line(dialog.left_view)

    right_bar.setValue(0)
    assert left_bar.value() == 0
    right_bar.setValue(right_bar.maximum())
    assert left_bar.value() == left_bar.maximum()

    sync = child(dialog, QCheckBox, "Scroll together")
    assert isinstance(sync, QCheckBox)
    sync.setChecked(False)
    left_bar.setValue(0)
    assert right_bar.value() == right_bar.maximum()


def test_empty_texts(qtbot: QtBot) -> None:
    dialog = make_dialog(qtbot, "", "")
    assert dialog.similarity_label.text() == "Similarity: 100 %"
    assert dialog.left_view.toPlainText() == ""
