"""ReplyView with real widgets: safe Markdown, copy buttons, links, reasoning, streaming cost."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt, QUrl
from PySide6.QtGui import QColor, QImage, QPalette, QTextCursor, QTextDocument
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from chatroom.core.room import Reply, ReplyState, SeatId
from chatroom.ui.render import PLAIN_NOTE, copy_block_link, copy_reply_link, toggle_reasoning_link
from chatroom.ui.reply_view import PASS_HTML_CHARS, RENDER_INTERVAL_MS, SHOW_ALL_LINK, ReplyView, ThreadTurn
from tests.fake_openrouter import FakeOpenRouter

CODE = "```python\ndef greet(name):\n    return f'Hello, {name}!'\n```\n"


class Browser:
    """Stands in for the confirmation box and the system browser."""

    def __init__(self) -> None:
        self.answer = False
        self.asked: list[str] = []
        self.opened: list[str] = []

    def confirm(self, address: str) -> bool:
        self.asked.append(address)
        return self.answer

    def open(self, url: QUrl) -> bool:
        self.opened.append(url.toString())
        return True


@pytest.fixture
def browser() -> Browser:
    return Browser()


@pytest.fixture
def view(qtbot: QtBot, browser: Browser) -> ReplyView:
    widget = ReplyView("test", confirm_link=browser.confirm, open_url=browser.open)
    qtbot.addWidget(widget)
    widget.resize(600, 700)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.fixture
def clean_clipboard() -> Iterator[None]:
    QApplication.clipboard().clear()
    yield
    QApplication.clipboard().clear()


def show_reply(view: ReplyView, text: str, state: ReplyState = ReplyState.DONE) -> None:
    view.show_prompt("the prompt")
    view.append_text(text)
    view.end_reply(state)


def link_position(view: ReplyView, href: str) -> int:
    block = view.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            it += 1
            if fragment.charFormat().anchorHref() == href:
                return fragment.position() + fragment.length() // 2
        block = block.next()
    raise AssertionError(f"no link to {href}")


def click_link(qtbot: QtBot, view: ReplyView, href: str) -> None:
    cursor = QTextCursor(view.document())
    cursor.setPosition(link_position(view, href))
    view.setTextCursor(cursor)
    view.ensureCursorVisible()
    rect = view.cursorRect(cursor)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(rect.left() + 1, rect.center().y()))


# -- safety ---------------------------------------------------------------


def test_hostile_reply_fetches_nothing(qtbot: QtBot, view: ReplyView, browser: Browser) -> None:
    with FakeOpenRouter() as server:
        base = f"http://127.0.0.1:{server.port}"
        hostile = (
            "<script>alert(1)</script>\n\n"
            f'<img src="{base}/x">\n\n'
            f"![pic]({base}/y.png)\n\n"
            f"<link rel=stylesheet href={base}/z.css>\n\n"
            f'<iframe src="{base}/frame"></iframe>\n\n'
            f'<p style="background-image:url({base}/bg.png)">styled</p>\n\n'
            f"[click]({base}/a)\n"
        )
        show_reply(view, hostile)
        qtbot.wait(300)
        assert server.requests == []
        click_link(qtbot, view, f"{base}/a")  # asked, and refused
        qtbot.wait(100)
        assert server.requests == []
    html = view.toHtml()
    for tag in ("<script", "<img", "<link", "<iframe"):
        assert tag not in html
    text = view.toPlainText()
    assert "<script>alert(1)</script>" in text
    assert f'<img src="{base}/x">' in text
    assert f"[image: pic]({base}/y.png)" in text
    assert browser.asked == [f"{base}/a"] and browser.opened == []


def test_load_resource_loads_nothing(view: ReplyView, tmp_path: Path) -> None:
    picture = tmp_path / "x.png"
    red = QImage(10, 10, QImage.Format.Format_RGB32)
    red.fill(QColor("red"))
    red.save(str(picture))
    url = QUrl.fromLocalFile(str(picture))
    QTextCursor(view.document()).insertHtml(f'<img src="{url.toString()}">')
    view.viewport().repaint()
    image = view.document().resource(QTextDocument.ResourceType.ImageResource, url)
    assert isinstance(image, QImage) and image.size().width() == 1
    sheet = view.loadResource(QTextDocument.ResourceType.StyleSheetResource.value, QUrl("http://127.0.0.1:9/z.css"))
    assert sheet == ""


# -- rendering --------------------------------------------------------------


def test_markdown_is_rendered(view: ReplyView) -> None:
    show_reply(view, "# Title\n\nSome **bold** text.\n\n- one\n- two\n\n" + CODE)
    text = view.toPlainText()
    assert "# Title" not in text and "Title" in text and "**" not in text
    assert "def greet(name):" in text
    assert "color:#008000" in view.toHtml()  # Pygments' keyword colour, inline


def test_prompt_is_plain_escaped_text(view: ReplyView) -> None:
    view.show_prompt("<b>not bold</b> **nor this**")
    assert view.toPlainText() == "<b>not bold</b> **nor this**"


def test_copy_buttons_copy_code_and_reply(qtbot: QtBot, view: ReplyView, clean_clipboard: None) -> None:
    source = "Intro.\n\n" + CODE + "\nMiddle.\n\n```\nsecond block\n```\n"
    show_reply(view, source)
    click_link(qtbot, view, copy_block_link(1))
    assert QApplication.clipboard().text() == "second block\n"
    click_link(qtbot, view, copy_block_link(0))
    assert QApplication.clipboard().text() == "def greet(name):\n    return f'Hello, {name}!'\n"
    click_link(qtbot, view, copy_reply_link(0))
    assert QApplication.clipboard().text() == source


def test_copy_numbers_continue_across_turns(qtbot: QtBot, view: ReplyView, clean_clipboard: None) -> None:
    show_reply(view, "```\nfirst\n```\n")
    show_reply(view, "```\nsecond\n```\n")
    click_link(qtbot, view, copy_block_link(1))
    assert QApplication.clipboard().text() == "second\n"
    click_link(qtbot, view, copy_reply_link(0))
    assert QApplication.clipboard().text() == "```\nfirst\n```\n"


def test_link_with_other_text_asks_first(qtbot: QtBot, view: ReplyView, browser: Browser) -> None:
    show_reply(view, "See [the docs](https://example.com/docs).")
    click_link(qtbot, view, "https://example.com/docs")
    assert browser.asked == ["https://example.com/docs"] and browser.opened == []
    browser.answer = True
    click_link(qtbot, view, "https://example.com/docs")
    assert browser.opened == ["https://example.com/docs"]


def test_link_showing_its_address_opens_at_once(qtbot: QtBot, view: ReplyView, browser: Browser) -> None:
    show_reply(view, "Go to <https://example.com/x> now.")
    click_link(qtbot, view, "https://example.com/x")
    assert browser.asked == [] and browser.opened == ["https://example.com/x"]


def test_non_ascii_links_compare_encoded(qtbot: QtBot, view: ReplyView, browser: Browser) -> None:
    show_reply(view, "<https://example.com/caf\u00e9> and [this](https://example.com/na\u00efve)")
    click_link(qtbot, view, "https://example.com/caf%C3%A9")
    assert browser.asked == [] and browser.opened == ["https://example.com/café"]
    click_link(qtbot, view, "https://example.com/na%C3%AFve")
    assert browser.asked == ["https://example.com/na%C3%AFve"]


def test_only_web_links_open(view: ReplyView, browser: Browser) -> None:
    browser.answer = True
    for address in ("file:///etc/passwd", "javascript:alert(1)", "ftp://example.com/"):
        view.on_anchor_clicked(QUrl(address))
    assert browser.opened == []


def test_reasoning_is_collapsed_and_expands(qtbot: QtBot, view: ReplyView) -> None:
    view.show_prompt("question")
    view.append_reasoning("Let me think")
    view.append_reasoning(" about this.\nSecond line.")
    view.append_text("The answer.")
    view.end_reply(ReplyState.DONE)
    text = view.toPlainText()
    assert "▸ Reasoning (7 words)" in text and "Let me think" not in text
    assert text.index("Reasoning") < text.index("The answer.")
    click_link(qtbot, view, toggle_reasoning_link(0))
    text = view.toPlainText()
    assert "▾ Reasoning (7 words)" in text
    assert text.index("Let me think about this.\nSecond line.") < text.index("The answer.")
    click_link(qtbot, view, toggle_reasoning_link(0))
    assert view.toPlainText() == text.replace("▾", "▸").replace("Let me think about this.\nSecond line.\n", "")


def test_toggling_an_earlier_reasoning_keeps_the_streaming_reply(qtbot: QtBot, view: ReplyView) -> None:
    view.show_prompt("one")
    view.load_reply(_reply("first answer", reasoning="thinking hard"))
    view.show_prompt("two")
    view.append_text("Streaming **second**\n\n")
    view.on_render_timer_timeout()
    click_link(qtbot, view, toggle_reasoning_link(0))
    view.append_text("More text.")
    view.end_reply(ReplyState.STOPPED)
    assert view.toPlainText().endswith(
        "thinking hard\nfirst answer\nCopy reply\n\ntwo\nStreaming second\nMore text.\n"
        "[stopped: partial reply]\nCopy reply"
    )
    assert view.reply_text() == "Streaming **second**\n\nMore text."


def test_reasoning_arriving_after_the_answer_goes_above_it(view: ReplyView) -> None:
    view.show_prompt("q")
    view.append_text("Answer **one**\n\nsecond")
    view.on_render_timer_timeout()
    view.append_reasoning("late thought")
    view.on_render_timer_timeout()
    view.append_text(" more")
    view.end_reply(ReplyState.DONE)
    assert view.toPlainText() == "q\n▸ Reasoning (2 words)\nAnswer one\nsecond more\nCopy reply"


def test_streaming_reasoning_counts_words_across_chunks(view: ReplyView) -> None:
    view.show_prompt("q")
    for chunk in ["Thi", "nking ", "in ", "pie", "ces"]:
        view.append_reasoning(chunk)
        view.on_render_timer_timeout()
    assert "Reasoning (3 words)" in view.toPlainText()


# -- streaming ----------------------------------------------------------------


def long_reply(size: int, seed: int = 1) -> str:
    """Markdown of about `size` characters: paragraphs, lists, code, tables, quotes."""
    rng = random.Random(seed)
    words = "alpha beta gamma delta **bold** *it* `code` [link](https://example.com/a) x1 <b>raw</b>".split()
    sections: list[str] = []
    length = 0
    while length < size:
        kind = rng.randrange(7)
        if kind == 0:
            section = f"## Section {len(sections)}\n"
        elif kind == 1:
            section = "\n".join(f"- {' '.join(rng.choices(words, k=5))}" for _ in range(3)) + "\n"
        elif kind == 2:
            section = "```python\n" + "\n".join(f"def f{i}(x):\n\n    return x * {i}" for i in range(4)) + "\n```\n"
        elif kind == 3:
            section = "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n"
        elif kind == 4:
            section = f"> {' '.join(rng.choices(words, k=12))}\n"
        elif kind == 5:
            section = "1. one\n\n2. two\n\n   indented continuation\n"
        else:
            section = " ".join(rng.choices(words, k=rng.randrange(10, 80))) + "\n"
        sections.append(section)
        length += len(section) + 1
    return "\n".join(sections)


def chunks(text: str, seed: int = 2) -> Iterator[str]:
    rng = random.Random(seed)
    position = 0
    while position < len(text):
        size = rng.randrange(1, 400)
        yield text[position : position + size]
        position += size


def test_streaming_gives_the_same_document_as_one_render(qtbot: QtBot, view: ReplyView) -> None:
    source = long_reply(200_000)
    view.show_prompt("prompt")
    for index, chunk in enumerate(chunks(source)):
        view.append_text(chunk)
        if index % 7 == 0:
            view.on_render_timer_timeout()  # what the throttle timer calls
    view.end_reply(ReplyState.DONE)
    once = ReplyView("once")
    qtbot.addWidget(once)
    once.show_prompt("prompt")
    once.load_reply(_reply(source))
    assert view.reply_text() == source
    assert view.toHtml() == once.toHtml()


def loaded_whole(qtbot: QtBot, source: str, state: ReplyState = ReplyState.DONE) -> ReplyView:
    """A view that rendered `source` in one go, to compare documents with."""
    once = ReplyView("once")
    qtbot.addWidget(once)
    once.show_prompt("prompt")
    once.load_reply(_reply(source, state=state))
    assert once.is_rendered
    return once


def render_until_caught_up(view: ReplyView) -> list[int]:
    """Render passes, as the timer runs them, until the view caught up: the text's length before and after each."""
    shown = [len(view.toPlainText())]
    while not view.is_rendered:
        view.on_render_timer_timeout()
        shown.append(len(view.toPlainText()))
    return shown


def test_a_burst_renders_over_several_passes_then_ends_whole(qtbot: QtBot, view: ReplyView) -> None:
    source = long_reply(60_000)
    view.show_prompt("prompt")
    view.append_text(source)  # a whole reply in one delta, as a buffering proxy may send it
    view.end_reply(ReplyState.STOPPED)
    assert not view.is_rendered
    assert "Copy reply" not in view.toPlainText()  # the ending waits for the text before it
    assert view.reply_text() == source
    shown = render_until_caught_up(view)
    assert len(shown) > 5
    assert all(a < b for a, b in zip(shown, shown[1:]))  # each pass shows more
    # HTML is longer than its text: no pass shows more than its budget and one block.
    assert max(b - a for a, b in zip(shown, shown[1:])) < PASS_HTML_CHARS + 1_000
    assert view.toHtml() == loaded_whole(qtbot, source, ReplyState.STOPPED).toHtml()


def test_the_render_timer_catches_up_alone(qtbot: QtBot, view: ReplyView) -> None:
    source = long_reply(60_000, seed=3)
    view.show_prompt("prompt")
    view.append_text(source[:30_000])
    view.on_render_timer_timeout()
    view.append_text(source[30_000:])  # more arrives while it is still behind
    view.end_reply(ReplyState.DONE)
    qtbot.waitUntil(lambda: view.is_rendered, timeout=10_000)
    assert view.toPlainText().endswith("\nCopy reply")
    assert view.toHtml() == loaded_whole(qtbot, source).toHtml()


def test_a_new_prompt_finishes_a_reply_still_rendering(qtbot: QtBot, view: ReplyView) -> None:
    source = long_reply(60_000, seed=4)
    view.show_prompt("prompt")
    view.append_text(source)
    view.end_reply(ReplyState.DONE)
    assert not view.is_rendered
    view.show_prompt("next question")
    assert view.toPlainText().endswith("\nCopy reply\n\nnext question")
    assert view.toPlainText().startswith(loaded_whole(qtbot, source).toPlainText())


def test_retry_while_still_rendering_starts_clean(view: ReplyView) -> None:
    view.show_prompt("prompt")
    view.append_text(long_reply(60_000, seed=5))
    view.end_reply(ReplyState.FAILED)
    view.show_retry()
    assert view.is_rendered
    assert view.toPlainText() == "prompt"
    view.append_text("Second *try*.")
    view.end_reply(ReplyState.DONE)
    assert view.toPlainText() == "prompt\nSecond try.\nCopy reply"


def test_renders_are_throttled(qtbot: QtBot, view: ReplyView, monkeypatch: pytest.MonkeyPatch) -> None:
    renders: list[float] = []
    render = view._render

    def counting_render(*args: object, **kwargs: bool) -> None:
        renders.append(time.monotonic())
        render(*args, **kwargs)  # type: ignore[arg-type]  # passes the view's own arguments on

    monkeypatch.setattr(view, "_render", counting_render)
    view.show_prompt("prompt")
    view.append_text("first words")
    assert "first words" not in view.toPlainText()  # not rendered per append
    qtbot.waitUntil(lambda: "first words" in view.toPlainText(), timeout=1000)
    started = time.monotonic()
    while time.monotonic() - started < 1.0:
        view.append_text("more ")
        qtbot.wait(5)
    qtbot.wait(RENDER_INTERVAL_MS * 2)
    assert 5 <= len(renders) <= 1 + 1000 / RENDER_INTERVAL_MS + 1
    assert all(b - a >= RENDER_INTERVAL_MS / 1000 * 0.9 for a, b in zip(renders, renders[1:], strict=False))
    assert view.toPlainText().endswith("more")


def test_end_reply_renders_at_once(view: ReplyView) -> None:
    view.show_prompt("prompt")
    view.append_text("# Done\n\nAll of it.")
    view.end_reply(ReplyState.DONE)
    assert view.toPlainText() == "prompt\nDone\nAll of it.\nCopy reply"


def test_ending_note_follows_the_reply(view: ReplyView) -> None:
    show_reply(view, "partial *text*", ReplyState.STOPPED)
    assert view.toPlainText() == "the prompt\npartial text\n[stopped: partial reply]\nCopy reply"
    assert view.reply_text() == "partial *text*"
    view.end_reply(ReplyState.FAILED)  # ended already: no second note
    assert "[failed]" not in view.toPlainText()


def test_retry_removes_the_reply(qtbot: QtBot, view: ReplyView, clean_clipboard: None) -> None:
    view.show_prompt("prompt")
    view.append_reasoning("hmm")
    view.append_text("old ```\ncode\n```\n\n```\nold code\n```\n\nmore")
    view.end_reply(ReplyState.INTERRUPTED)
    view.show_retry()
    assert view.toPlainText() == "prompt"
    assert view.reply_text() == ""
    view.append_text("```\nnew code\n```\n")
    view.end_reply(ReplyState.DONE)
    assert view.toPlainText() == "prompt\nCopy\nnew code\nCopy reply"
    click_link(qtbot, view, copy_block_link(0))
    assert QApplication.clipboard().text() == "new code\n"


def test_a_5000_line_code_block_renders_quickly(view: ReplyView) -> None:
    code = "\n".join(f"value_{i} = compute({i})  # step {i}" for i in range(5000))
    started = time.perf_counter()
    show_reply(view, f"Here:\n\n```python\n{code}\n```\n")
    view.viewport().repaint()
    assert time.perf_counter() - started < 15.0  # a freeze, not a speed goal (bench_render)
    text = view.toPlainText()
    assert PLAIN_NOTE in text and "value_4999 = compute(4999)" in text


def test_a_1_mb_paragraph_renders_quickly(view: ReplyView) -> None:
    paragraph = "word " * 200_000
    started = time.perf_counter()
    show_reply(view, paragraph)
    view.viewport().repaint()
    assert time.perf_counter() - started < 15.0  # a freeze, not a speed goal (bench_render)
    assert PLAIN_NOTE in view.toPlainText()
    assert view.reply_text() == paragraph


def test_streaming_a_huge_block_appends_plain_text(view: ReplyView) -> None:
    view.show_prompt("prompt")
    slowest_s = 0.0
    for _ in range(100):
        view.append_text("word " * 2000)  # 10 KB
        started = time.perf_counter()
        view.on_render_timer_timeout()
        slowest_s = max(slowest_s, time.perf_counter() - started)
    assert PLAIN_NOTE in view.toPlainText()
    assert slowest_s < 5.0  # a freeze, not a speed goal (bench_render)
    view.end_reply(ReplyState.DONE)
    assert view.toPlainText().replace("\n", "").count("word") == 200_000


def test_dark_palette_renders_dark_code(qtbot: QtBot, view: ReplyView) -> None:
    show_reply(view, CODE)
    assert "#f8f8f8" in view.toHtml()
    palette = view.palette()
    palette.setColor(QPalette.ColorRole.Base, QColor("#1e1e1e"))
    palette.setColor(QPalette.ColorRole.Text, QColor("#e0e0e0"))
    view.setPalette(palette)
    html = view.toHtml()
    assert "#0d1117" in html and "#f8f8f8" not in html
    assert view.toPlainText() == "the prompt\npython · Copy\ndef greet(name):\n    return f'Hello, {name}!'\nCopy reply"


# -- long threads ---------------------------------------------------------------


def stream_turns(view: ReplyView, count: int, *, keep: int) -> list[ThreadTurn]:
    """`count` turns shown as the window shows them, at most `keep` at a time; the whole thread."""
    turns: list[ThreadTurn] = []
    for n in range(1, count + 1):
        reply = _reply(f"Answer {n}.\n\n" + "Some words to read. " * 40 + f"\n\n```\ncode {n}\n```\n", f"thought {n}")
        turns.append((f"prompt {n}", reply))
        view.show_prompt(f"prompt {n}", keep_turns=keep)
        view.append_reasoning(reply.reasoning)
        view.append_text(reply.text)
        view.end_reply(reply.state)
    return turns


def shown_prompts(view: ReplyView) -> list[str]:
    return [line for line in view.toPlainText().splitlines() if line.startswith("prompt ")]


def test_a_new_prompt_hides_the_oldest_turns_behind_a_note(
    qtbot: QtBot, view: ReplyView, clean_clipboard: None
) -> None:
    stream_turns(view, 5, keep=3)
    assert view.hidden_turns == 2
    assert view.toPlainText().startswith("2 earlier turns are not shown — Show all\n\nprompt 3\n▸ Reasoning")
    assert shown_prompts(view) == ["prompt 3", "prompt 4", "prompt 5"]
    assert "Answer 2." not in view.toPlainText()
    # The shown turns keep their numbers: links reach their own reasoning, reply and code.
    click_link(qtbot, view, toggle_reasoning_link(3))
    assert "thought 4" in view.toPlainText() and "thought 3" not in view.toPlainText()
    click_link(qtbot, view, copy_reply_link(2))
    assert QApplication.clipboard().text().startswith("Answer 3.")
    click_link(qtbot, view, copy_block_link(4))
    assert QApplication.clipboard().text() == "code 5\n"
    assert view.reply_text().startswith("Answer 5.")


def test_hidden_turns_leave_the_document(view: ReplyView) -> None:
    stream_turns(view, 5, keep=3)
    blocks, characters = view.document().blockCount(), view.document().characterCount()
    view.load_turns([], 0)  # start again
    stream_turns(view, 9, keep=3)
    assert view.hidden_turns == 6 and shown_prompts(view) == ["prompt 7", "prompt 8", "prompt 9"]
    assert view.document().blockCount() == blocks
    assert view.document().characterCount() == characters


def test_one_hidden_turn_is_counted_in_the_singular(view: ReplyView) -> None:
    stream_turns(view, 3, keep=3)
    view.show_prompt("prompt 4", keep_turns=3)
    assert view.toPlainText().startswith("1 earlier turn is not shown — Show all\n\nprompt 2\n")


def test_the_show_all_link_asks_for_every_turn(qtbot: QtBot, view: ReplyView) -> None:
    stream_turns(view, 4, keep=2)
    with qtbot.waitSignal(view.show_all_requested, timeout=1000):
        click_link(qtbot, view, SHOW_ALL_LINK)


def test_the_show_all_link_is_the_first_stop_for_the_keyboard(qtbot: QtBot, view: ReplyView) -> None:
    stream_turns(view, 4, keep=2)
    view.setFocus()
    view.moveCursor(QTextCursor.MoveOperation.Start)
    qtbot.keyClick(view, Qt.Key.Key_Tab)
    assert view.textCursor().selectedText() == "Show all"
    with qtbot.waitSignal(view.show_all_requested, timeout=1000):
        qtbot.keyClick(view, Qt.Key.Key_Return)


def test_show_all_brings_back_the_hidden_turns_and_keeps_the_reader_in_place(qtbot: QtBot, view: ReplyView) -> None:
    turns = stream_turns(view, 12, keep=4)
    bar = view.verticalScrollBar()
    bar.setValue(bar.maximum() // 2)  # reading the middle of what is shown
    top = view.cursorForPosition(QPoint(0, 0)).position()
    top_y = view.cursorRect(_cursor_at(view, top)).top()
    characters = view.document().characterCount()
    view.show_all(turns)
    assert view.hidden_turns == 0
    assert shown_prompts(view) == [f"prompt {n}" for n in range(1, 13)]
    assert not view.toPlainText().startswith("8 earlier")
    # Everything came in above what was shown, which kept its place on screen.
    moved = view.document().characterCount() - characters
    assert view.cursorForPosition(QPoint(0, 0)).position() == top + moved
    assert view.cursorRect(_cursor_at(view, top + moved)).top() == top_y
    click_link(qtbot, view, toggle_reasoning_link(0))  # the numbers still match the links
    assert "thought 1" in view.toPlainText()


def test_show_all_at_the_end_stays_at_the_end(view: ReplyView) -> None:
    turns = stream_turns(view, 10, keep=3)
    bar = view.verticalScrollBar()
    assert bar.value() == bar.maximum()
    view.show_all(turns)
    assert bar.value() == bar.maximum() > 0


def test_show_all_while_the_latest_reply_streams(view: ReplyView) -> None:
    turns = stream_turns(view, 5, keep=2)
    view.show_prompt("prompt 6", keep_turns=2)
    view.append_text("Streaming **so far**\n\nand")
    view.on_render_timer_timeout()
    view.show_all([*turns, ("prompt 6", None)])
    view.append_text(" more")
    view.end_reply(ReplyState.DONE)
    assert shown_prompts(view) == [f"prompt {n}" for n in range(1, 7)]
    assert view.toPlainText().endswith("prompt 6\nStreaming so far\nand more\nCopy reply")
    assert view.reply_text() == "Streaming **so far**\n\nand more"


def test_a_loaded_thread_shows_its_last_turns_and_can_show_all(view: ReplyView) -> None:
    turns: list[ThreadTurn] = [(f"prompt {n}", _reply(f"Answer {n}.")) for n in range(1, 8)]
    turns.insert(0, ("prompt 0", None))  # before this seat sat
    view.load_turns(turns, 3)
    assert view.hidden_turns == 5
    assert view.toPlainText() == (
        "5 earlier turns are not shown — Show all\n\n"
        "prompt 5\nAnswer 5.\nCopy reply\n\nprompt 6\nAnswer 6.\nCopy reply\n\nprompt 7\nAnswer 7.\nCopy reply"
    )
    view.show_all(turns)
    assert view.toPlainText().startswith("prompt 0\n\nprompt 1\nAnswer 1.\nCopy reply\n\nprompt 2\n")
    assert shown_prompts(view) == [f"prompt {n}" for n in range(8)]


def test_a_new_palette_keeps_the_note(view: ReplyView) -> None:
    stream_turns(view, 4, keep=2)
    text = view.toPlainText()
    palette = view.palette()
    palette.setColor(QPalette.ColorRole.Base, QColor("#1e1e1e"))
    view.setPalette(palette)
    assert view.toPlainText() == text
    assert view.hidden_turns == 2


def _cursor_at(view: ReplyView, position: int) -> QTextCursor:
    cursor = QTextCursor(view.document())
    cursor.setPosition(position)
    return cursor


def _reply(text: str, reasoning: str = "", state: ReplyState = ReplyState.DONE) -> Reply:
    reply = Reply(SeatId("s1"))
    reply.move_to(ReplyState.STREAMING)
    reply.append_text(text)
    reply.append_reasoning(reasoning)
    reply.move_to(state)
    return reply
