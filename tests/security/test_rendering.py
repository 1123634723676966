"""Model output cannot fetch, run or hide anything: hostile replies against the server's log.

`fake/hostile` streams Markdown and raw HTML whose every image, style sheet,
font, frame, script and link points back at the fake server, so any fetch the
window makes shows up in the server's request log. Only the chat request and
the window's own API calls (catalogue) may be there.
"""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextFormat
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from chatroom.core.room import ReplyState
from chatroom.ui.main_window import MainWindow
from chatroom.ui.render import parse_internal_link
from chatroom.ui.reply_view import ReplyView
from tests.fake_openrouter import FakeOpenRouter
from tests.fake_openrouter.scenarios import HOSTILE_TRACK_PATH, hostile_markdown
from tests.ui.conftest import WindowFactory
from tests.ui.test_main_window import TIMEOUT_MS, send, wait_idle
from tests.ui.test_reply_view import Browser, click_link

HOSTILE = "fake/hostile"
API_PREFIXES = ("/api/v1/", "/v1/")
#: Tags that make a browser or Qt's rich text load something or run something.
LOADING_TAGS = (
    "<script", "<img", "<link", "<iframe", "<frame", "<object", "<embed", "<video", "<audio", "<source",
)


def fetched_outside_api(server: FakeOpenRouter) -> list[str]:
    """Every request that was not an API call: what a rendered reply made the window fetch."""
    return [f"{r.method} {r.path}" for r in server.requests if not r.path.startswith(API_PREFIXES)]


def anchors(view: ReplyView) -> set[str]:
    """The targets of every link in the view's document, our own chatroom-… links left out."""
    hrefs = set()
    for fmt in view.document().allFormats():
        if fmt.isCharFormat() and fmt.toCharFormat().isAnchor():
            href = fmt.toCharFormat().anchorHref()
            if href and parse_internal_link(href) is None:
                hrefs.add(href)
    return hrefs


def hostile_window(qtbot: QtBot, make_window: WindowFactory, browser: Browser, **kwargs: Path) -> MainWindow:
    """A window whose one seat streamed the hostile reply to the end."""
    window = make_window([HOSTILE], **kwargs)
    view = window.pane_for(HOSTILE).view
    view.confirm_link = browser.confirm
    view.open_url = browser.open
    send(qtbot, window, "be nasty")
    wait_idle(qtbot, window)
    assert window.pane_for(HOSTILE).state is ReplyState.DONE
    qtbot.wait(300)  # layout, paint and any resource load get their chance
    return window


def test_hostile_reply_fetches_nothing_and_runs_nothing(
    qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter
) -> None:
    browser = Browser()
    window = hostile_window(qtbot, make_window, browser)
    pane = window.pane_for(HOSTILE)
    origin = fake_server.root_url
    assert pane.reply_text() == hostile_markdown(origin)
    pane.view.viewport().repaint()
    assert fetched_outside_api(fake_server) == []
    assert len(fake_server.chat_requests()) == 1

    html = pane.view.toHtml()
    for tag in LOADING_TAGS:
        assert tag not in html.lower(), tag
    # Shown as text instead, so the user sees what the model tried.
    text = pane.view.toPlainText()
    assert f'<script src="{origin}/script.js">' in text
    assert f'<iframe src="{origin}/frame.html">' in text
    assert f"[image: x]({origin}/pixel.png)" in text
    for fmt in pane.view.document().allFormats():
        assert not fmt.isImageFormat()
        assert not fmt.hasProperty(QTextFormat.Property.BackgroundImageUrl)
    # Only Markdown links to web addresses are links: no raw <a>, javascript: or data:.
    assert anchors(pane.view) == {
        f"{origin}{HOSTILE_TRACK_PATH}",
        f"{origin}/deceptive",
        f"{origin}/nested-link",
        f"{origin}/plain",
    }
    assert browser.asked == [] and browser.opened == []  # nothing opens without a click


def test_links_need_a_click_and_show_a_hidden_target_first(
    qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter
) -> None:
    browser = Browser()
    window = hostile_window(qtbot, make_window, browser)
    view = window.pane_for(HOSTILE).view
    track = f"{fake_server.root_url}{HOSTILE_TRACK_PATH}"
    plain = f"{fake_server.root_url}/plain"

    click_link(qtbot, view, track)  # "innocent text": the address is shown, the user declines
    assert browser.asked == [track] and browser.opened == []
    browser.answer = True
    click_link(qtbot, view, track)
    assert browser.asked == [track, track] and browser.opened == [track]
    click_link(qtbot, view, plain)  # its text is its address: nothing to reveal
    assert browser.asked == [track, track] and browser.opened == [track, plain]
    browser.answer = False
    deceptive = f"{fake_server.root_url}/deceptive"
    click_link(qtbot, view, deceptive)  # its text is an address too, but another one
    assert browser.asked == [track, track, deceptive] and browser.opened == [track, plain]
    assert fetched_outside_api(fake_server) == []  # the browser stand-in fetched nothing either


def test_exported_page_of_a_hostile_reply_loads_nothing(
    qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter, tmp_path: Path
) -> None:
    window = hostile_window(qtbot, make_window, Browser(), history_path=tmp_path / "h.sqlite3")
    assert window.history is not None
    page = tmp_path / "room.html"
    window.history.export_to(page, "html")
    qtbot.waitUntil(page.exists, timeout=TIMEOUT_MS)
    exported = page.read_text(encoding="utf-8")
    for tag in LOADING_TAGS:
        assert tag not in exported.lower(), tag
    # No tag or style refers to the server: its URLs are escaped text only.
    inside_tags = re.findall(r"<[^>]*>", exported)
    assert [tag for tag in inside_tags if fake_server.root_url in tag] == []
    assert "url(" not in "".join(re.findall(r"<style.*?</style>", exported, re.DOTALL))
    assert "innocent text" in exported and "/pixel.png" in exported


def test_server_error_text_is_shown_as_text(
    qtbot: QtBot, make_window: WindowFactory, fake_server: FakeOpenRouter
) -> None:
    # The fake's 404 quotes the model id, so the server's error message carries the HTML.
    origin = fake_server.root_url
    model = f'fake/http-404?x=<img src="{origin}/error.png"><a href="{origin}/error-link">fix it</a>'
    window = make_window([model])
    send(qtbot, window, "hello")
    wait_idle(qtbot, window)
    pane = window.pane_for(model)
    assert pane.state is ReplyState.FAILED
    label: QLabel = pane.error_label
    shown = label.text()
    if label.textFormat() != Qt.TextFormat.PlainText:  # rich, or auto-detected as rich
        assert "<img" not in shown and f'<a href="{origin}' not in shown
    assert "error.png" in shown  # the message is there, as text
    qtbot.wait(100)
    assert fetched_outside_api(fake_server) == []
