"""render.py: Markdown -> safe HTML, and cutting a streaming message into blocks. No Qt."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from chatroom.ui.render import (
    MAX_BLOCK_CHARS,
    MAX_CODE_LINES,
    PLAIN_NOTE,
    InternalLink,
    copy_block_link,
    copy_reply_link,
    fence_body,
    parse_internal_link,
    render_block,
    render_markdown,
    split_blocks,
    toggle_reasoning_link,
)

DOC = (
    "# Title\n"
    "\n"
    "A paragraph\nover two lines.\n"
    "\n"
    "```python\n"
    "def f():\n"
    "\n"
    "\n"
    "    return 1\n"
    "```\n"
    "\n"
    "- item one\n"
    "\n"
    "  continued inside the item\n"
    "- item two\n"
    "\n"
    "~~~~\n"
    "```\n"
    "\n"
    "not closed by backticks\n"
    "~~~\n"
    "\n"
    "still code\n"
    "~~~~~\n"
    "\n"
    "\n"
    "| a | b |\n"
    "|---|---|\n"
    "| 1 | 2 |\n"
    "\n"
    "```\n"
    "an open fence\n"
    "\n"
    "to the end"
)
DOC_BLOCKS = [
    "# Title\n\n",
    "A paragraph\nover two lines.\n\n",
    "```python\ndef f():\n\n\n    return 1\n```\n\n",
    "- item one\n\n  continued inside the item\n- item two\n\n",
    "~~~~\n```\n\nnot closed by backticks\n~~~\n\nstill code\n~~~~~\n\n\n",
    "| a | b |\n|---|---|\n| 1 | 2 |\n\n",
]
DOC_TAIL = "```\nan open fence\n\nto the end"


def test_split_blocks_finds_top_level_blocks_outside_fences() -> None:
    assert split_blocks(DOC) == (DOC_BLOCKS, DOC_TAIL)


@pytest.mark.parametrize("cut", range(len(DOC) + 1))
def test_any_cut_gives_a_prefix_of_the_same_blocks(cut: int) -> None:
    blocks, tail = split_blocks(DOC[:cut])
    assert "".join(blocks) + tail == DOC[:cut]
    assert blocks == DOC_BLOCKS[: len(blocks)]


def test_a_block_is_complete_only_once_the_next_one_starts() -> None:
    # The next line may still be indented (a list item's continuation).
    assert split_blocks("- a\n\n") == ([], "- a\n\n")
    assert split_blocks("- a\n\n  ") == ([], "- a\n\n  ")
    assert split_blocks("- a\n\nb") == (["- a\n\n"], "b")


def test_crlf_blank_lines_split_too() -> None:
    assert split_blocks("a\r\n\r\nb\r\n") == (["a\r\n\r\n"], "b\r\n")


def test_a_longer_fence_is_not_closed_by_a_shorter_one() -> None:
    assert split_blocks("````\n```\n\nx\n````\n\ny") == (["````\n```\n\nx\n````\n\n"], "y")


def test_raw_html_is_escaped_and_nothing_is_fetched() -> None:
    html = render_markdown(
        "<script>alert(1)</script>\n\n"
        '<img src="http://127.0.0.1:9/x">\n\n'
        "![pic](http://127.0.0.1:9/y.png)\n\n"
        "<link rel=stylesheet href=http://127.0.0.1:9/z.css>\n\n"
        '<iframe src="http://127.0.0.1:9/f"></iframe>\n\n'
        "text <b onclick=x>inline</b>\n",
        dark=False,
    )
    for tag in ("<script", "<img", "<link", "<iframe", "<b onclick"):
        assert tag not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "[image: pic](http://127.0.0.1:9/y.png)" in html
    tags = re.findall(r"<[a-z][^>]*>", html)
    assert not [tag for tag in tags if re.search(r"\b(src|background)\s*=", tag)]


def test_only_web_and_mail_links_are_links() -> None:
    html = render_markdown(
        "[web](https://example.com/a) [mail](mailto:a@example.com) "
        "[js](javascript:alert(1)) [file](file:///etc/passwd) [rel](docs/x.html)",
        dark=False,
    )
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs == ["https://example.com/a", "mailto:a@example.com"]
    assert "js" in html and "file" in html and "rel" in html


def test_an_image_inside_a_link_stays_text() -> None:
    html = render_markdown("[![alt](http://h/i.png)](https://example.com)", dark=False)
    assert "<img" not in html
    assert '<a href="https://example.com"' in html and "[image: alt](http://h/i.png)" in html


def test_code_is_highlighted_with_inline_styles() -> None:
    html = render_markdown("```python\ndef f():\n    return 1\n```\n", dark=False)
    assert re.search(r'<span style="color: ?#[0-9A-Fa-f]+', html)
    assert "class=" not in html
    assert f'<a href="{copy_block_link(0)}">Copy</a>' in html


def test_dark_and_light_code_differ() -> None:
    source = "```python\nx = 1\n```\n"
    light, dark = render_markdown(source, dark=False), render_markdown(source, dark=True)
    background = re.compile(r"background-color:(#[0-9a-fA-F]+)")
    light_bg, dark_bg = background.findall(light)[0], background.findall(dark)[0]
    assert int(light_bg[1:3], 16) > 0xC0 > int(dark_bg[1:3], 16)


def test_unknown_language_is_plain_code() -> None:
    html = render_markdown("```no-such-language\n<x>\n```\n", dark=False)
    assert "&lt;x&gt;" in html and "<x>" not in html


def test_code_blocks_are_numbered_for_copy_links() -> None:
    rendered = render_block("```\na\n```\n\n```\nb\n```\n", dark=False, first_code=5)
    assert rendered.codes == ("a\n", "b\n")
    assert copy_block_link(5) in rendered.html and copy_block_link(6) in rendered.html
    whole = render_markdown("```\na\n```\n\ntext\n\n```\nb\n```\n", dark=False)
    assert copy_block_link(0) in whole and copy_block_link(1) in whole


def test_a_long_code_block_is_plain_text() -> None:
    code = "\n".join(f"x = {i}" for i in range(MAX_CODE_LINES + 1))
    rendered = render_block(f"```python\n{code}\n```\n", dark=False)
    assert PLAIN_NOTE in rendered.html
    assert "<span" not in rendered.html
    assert rendered.codes == (code + "\n",)


def test_a_huge_block_is_plain_text() -> None:
    source = "*word* <b>x</b> " * (MAX_BLOCK_CHARS // 10)
    rendered = render_block(source, dark=False)
    assert PLAIN_NOTE in rendered.html
    assert "<em>" not in rendered.html and "<b>" not in rendered.html
    assert rendered.codes == (source,)


def test_fence_body_strips_the_fences() -> None:
    assert fence_body("```py\na\n\nb\n```\n\n") == "a\n\nb\n"
    assert fence_body("~~~\nopen\n") == "open\n"
    assert fence_body("just text\n") == "just text\n"


def test_internal_links_round_trip() -> None:
    assert parse_internal_link(copy_block_link(3)) == InternalLink("copy-block", 3)
    assert parse_internal_link(copy_reply_link(0)) == InternalLink("copy-reply", 0)
    assert parse_internal_link(toggle_reasoning_link(12)) == InternalLink("toggle-reasoning", 12)
    assert parse_internal_link("https://example.com") is None
    assert parse_internal_link("chatroom-copy:block/x") is None


def test_empty_source_renders_nothing() -> None:
    assert render_markdown("", dark=False) == ""
    assert render_block("\n\n", dark=True).html == ""


def test_render_does_not_import_qt() -> None:
    code = "import sys, chatroom.ui.render; print(any(m.startswith(('PySide6', 'shiboken')) for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
