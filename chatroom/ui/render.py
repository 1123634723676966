"""Markdown -> safe HTML for one message, in the subset Qt's rich text supports.

Pure functions, no Qt: the view inserts the strings this module returns.

Safety: markdown-it runs with `html=False`, so raw HTML from the model is
escaped text; images become a text placeholder and are never referenced by a
tag; links keep an `<a href>` only for http, https and mailto. The only other
URLs in the output are our own `chatroom-copy:` and `chatroom-toggle:` links.

Streaming: `split_blocks` cuts a message at top-level block boundaries so the
view renders each finished block once and re-renders only the open tail.
Blocks too big to format in a frame's time are shown as plain text instead.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Final

# markdown-it and Pygments are imported where a reply is first rendered, not
# here: they take about 30 ms that the window's first frame does not need
# (start-up, docs/performance.md).
if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.renderer import RendererHTML
    from markdown_it.token import Token
    from markdown_it.utils import EnvType, OptionsDict
    # Pygments ships no type information and types-Pygments is no dependency.
    from pygments.formatters import HtmlFormatter  # type: ignore[import-untyped]
    from pygments.lexer import Lexer  # type: ignore[import-untyped]

__all__ = [
    "MAX_BLOCK_CHARS",
    "MAX_CODE_LINES",
    "OPENABLE_SCHEMES",
    "PLAIN_NOTE",
    "InternalLink",
    "Rendered",
    "copy_block_link",
    "copy_reply_link",
    "fence_body",
    "parse_internal_link",
    "plain_note_html",
    "preload",
    "render_block",
    "render_markdown",
    "render_plain",
    "split_blocks",
    "toggle_reasoning_link",
]

# Highlighting 2,000 lines of Python takes about 0.1 s and Qt as long again to
# insert the result; dense inline Markdown takes markdown-it about 0.2 s per
# 100 KB. Past these sizes a block is shown as plain text, so rendering one
# block never stalls the window for long.
MAX_BLOCK_CHARS: Final = 100_000
MAX_CODE_LINES: Final = 2_000
PLAIN_NOTE: Final = "shown as plain text: too long to highlight"
OPENABLE_SCHEMES: Final = frozenset({"http", "https", "mailto"})

_LIGHT_STYLE: Final = "default"
_DARK_STYLE: Final = "github-dark"
_GREY: Final = "#808080"
_MONOSPACE: Final = "font-family:monospace;"
# Wrapped: Qt cannot scroll one block sideways, a long line would widen the whole view.
_CODE_FONT: Final = _MONOSPACE + " white-space:pre-wrap;"
_HEADING_SIZES: Final = {"h1": "x-large", "h2": "large", "h3": "medium"}

_FENCE_OPEN: Final = re.compile(r" {0,3}(`{3,}(?=[^`]*$)|~{3,})")
_FENCE_CLOSE: Final = re.compile(r" {0,3}(`{3,}|~{3,})[ \t\r]*$")
_INTERNAL_LINK: Final = re.compile(r"(chatroom-copy:block|chatroom-copy:reply|chatroom-toggle:reasoning)/(\d+)")


# -- internal links -----------------------------------------------------------


@dataclass(frozen=True)
class InternalLink:
    """A link the view answers itself: `action` is copy-block, copy-reply or toggle-reasoning."""

    action: str
    index: int


def copy_block_link(index: int) -> str:
    """The link of the copy button of code block `index` (numbered per view)."""
    return f"chatroom-copy:block/{index}"


def copy_reply_link(index: int) -> str:
    """The link that copies the Markdown source of reply `index`."""
    return f"chatroom-copy:reply/{index}"


def toggle_reasoning_link(index: int) -> str:
    """The link that expands or collapses the reasoning of reply `index`."""
    return f"chatroom-toggle:reasoning/{index}"


def parse_internal_link(url: str) -> InternalLink | None:
    """The action and index of one of our links; None for any other URL."""
    match = _INTERNAL_LINK.fullmatch(url)
    if match is None:
        return None
    action = {
        "chatroom-copy:block": "copy-block",
        "chatroom-copy:reply": "copy-reply",
        "chatroom-toggle:reasoning": "toggle-reasoning",
    }[match.group(1)]
    return InternalLink(action, int(match.group(2)))


# -- splitting ----------------------------------------------------------------


def split_blocks(source: str) -> tuple[list[str], str]:
    """Cut `source` into complete top-level blocks and the open tail.

    A block ends at a blank line outside a ``` or ~~~ fence that is followed by
    a line starting with a non-space character (an indented line may continue
    a list item). Blocks keep their trailing blank lines, so
    `"".join(blocks) + tail == source`, and the blocks of any prefix of a text
    are a prefix of the blocks of the whole text: a complete block never
    changes as more text arrives.
    """
    blocks: list[str] = []
    start = pos = 0
    fence: str | None = None
    after_blank = False
    while (end := source.find("\n", pos)) >= 0:
        line = source[pos:end]
        if after_blank and pos > start and _starts_block(line):
            blocks.append(source[start:pos])
            start = pos
        fence = _fence_after(fence, line)
        after_blank = fence is None and not line.strip()
        pos = end + 1
    if after_blank and pos > start and _starts_block(source[pos : pos + 1]):
        blocks.append(source[start:pos])
        start = pos
    return blocks, source[start:]


def _starts_block(line: str) -> bool:
    return line[:1].strip() != ""


def _fence_after(fence: str | None, line: str) -> str | None:
    """The open fence after `line`, given the one open before it (None: none)."""
    if fence is None:
        opening = _FENCE_OPEN.match(line)
        return opening.group(1) if opening else None
    closing = _FENCE_CLOSE.match(line)
    if closing and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= len(fence):
        return None
    return fence


def fence_body(block: str) -> str:
    """The code inside a block that is one fenced code block; else the block itself."""
    first, _, rest = block.partition("\n")
    opening = _FENCE_OPEN.match(first)
    if opening is None:
        return block
    lines = rest.rstrip("\n").split("\n")
    closing = _FENCE_CLOSE.match(lines[-1])
    if closing and closing.group(1).startswith(opening.group(1)[0]):
        lines.pop()
    return "\n".join(lines) + "\n"


# -- rendering ----------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """The HTML of some Markdown and the code of its code blocks, for copy buttons."""

    html: str
    codes: tuple[str, ...]


@dataclass
class _RenderState:
    """What the render rules of one call share (markdown-it's `env`)."""

    dark: bool
    first_code: int
    codes: list[str] = field(default_factory=list)
    links: list[bool] = field(default_factory=list)  # per open link: is it an <a>?


def render_markdown(source: str, *, dark: bool) -> str:
    """The HTML of a whole message, rendered block by block as the view does."""
    blocks, tail = split_blocks(source)
    parts: list[str] = []
    codes = 0
    for block in [*blocks, tail]:
        rendered = render_block(block, dark=dark, first_code=codes)
        parts.append(rendered.html)
        codes += len(rendered.codes)
    return "".join(parts)


def render_block(source: str, *, dark: bool, first_code: int = 0) -> Rendered:
    """Render Markdown; its code blocks' copy links are numbered from `first_code`."""
    if not source.strip():
        return Rendered("", ())
    if len(source) > MAX_BLOCK_CHARS:
        return render_plain(source, first_code)
    state = _RenderState(dark=dark, first_code=first_code)
    # Qt turns the newline after the last tag into a space at the end of the block.
    html = _markdown().render(source, {"chatroom": state}).rstrip()
    return Rendered(html, tuple(state.codes))


def preload() -> None:
    """Import markdown-it and Pygments and build the parser now, not at the first reply.

    The window calls it once it has painted: the first streamed reply would
    otherwise stall on their import (about 50 ms).
    """
    render_block("```\n-\n```\n", dark=False)


def render_plain(source: str, code_index: int) -> Rendered:
    """A block too long to format: a note, a copy link, the escaped text as is."""
    code = fence_body(source)
    html = plain_note_html(code_index) + f'<pre style="{_CODE_FONT}">{escape(source)}</pre>'
    return Rendered(html, (code,))


def plain_note_html(code_index: int) -> str:
    """The note above a block shown as plain text, with the block's copy link."""
    return (
        f'<p style="margin-top:6px; margin-bottom:2px; color:{_GREY}; font-size:small;">'
        f"<i>{PLAIN_NOTE}</i> · <a href=\"{copy_block_link(code_index)}\">Copy</a></p>"
    )


@functools.cache
def _markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt  # deferred: start-up (see the imports)

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.add_render_rule("fence", _render_fence)
    md.add_render_rule("code_block", _render_fence)
    md.add_render_rule("image", _render_image)
    md.add_render_rule("link_open", _render_link_open)
    md.add_render_rule("link_close", _render_link_close)
    md.add_render_rule("table_open", _render_table_open)
    md.add_render_rule("code_inline", _render_code_inline)
    md.add_render_rule("heading_open", _render_heading_open)
    md.add_render_rule("blockquote_open", _render_blockquote_open)
    return md


def _state(env: EnvType) -> _RenderState:
    state = env["chatroom"]
    assert isinstance(state, _RenderState)
    return state


def _render_fence(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    state = _state(env)
    code = token.content
    language = token.info.split(maxsplit=1)[0] if token.info.strip() else ""
    index = state.first_code + len(state.codes)
    state.codes.append(code)
    if code.count("\n") > MAX_CODE_LINES:
        plain = escape(code.rstrip("\n"))
        return plain_note_html(index) + f'<pre style="{_CODE_FONT}">{plain}</pre>\n'
    background, foreground = _code_colours(state.dark)
    label = f"{escape(language)} · " if language else ""
    header = (
        f'<p style="margin-top:8px; margin-bottom:0px; color:{_GREY}; font-size:small;">'
        f'{label}<a href="{copy_block_link(index)}">Copy</a></p>'
    )
    body = _highlight(code, language, state.dark).rstrip("\n")
    return (
        header
        + f'<pre style="margin-top:2px; margin-bottom:8px; background-color:{background};'
        + f' color:{foreground}; {_CODE_FONT}">{body}</pre>\n'
    )


def _highlight(code: str, language: str, dark: bool) -> str:
    from pygments import highlight  # type: ignore[import-untyped]  # deferred: start-up

    return str(highlight(code, _lexer(language), _formatter(dark)))


@functools.lru_cache(maxsize=64)
def _lexer(language: str) -> Lexer:
    # Deferred: start-up (see the imports).
    from pygments.lexers import TextLexer, get_lexer_by_name  # type: ignore[import-untyped]
    from pygments.util import ClassNotFound  # type: ignore[import-untyped]

    # Never guess from the content: guessing is slow and often wrong.
    try:
        return get_lexer_by_name(language) if language else TextLexer()
    except ClassNotFound:
        return TextLexer()


@functools.cache
def _formatter(dark: bool) -> HtmlFormatter:
    from pygments.formatters import HtmlFormatter  # deferred: start-up (see the imports)

    # Qt ignores CSS classes that are not in the document's style sheet:
    # inline styles only.
    return HtmlFormatter(style=_DARK_STYLE if dark else _LIGHT_STYLE, noclasses=True, nowrap=True)


@functools.cache
def _code_colours(dark: bool) -> tuple[str, str]:
    """Background and default text colour of code blocks."""
    # Deferred: start-up (see the imports).
    from pygments.styles import get_style_by_name  # type: ignore[import-untyped]
    from pygments.token import Token as PygmentsToken  # type: ignore[import-untyped]

    style = get_style_by_name(_DARK_STYLE if dark else _LIGHT_STYLE)
    colour = style.style_for_token(PygmentsToken)["color"]
    foreground = f"#{colour}" if colour else ("#e6edf3" if dark else "#1f2328")
    return str(style.background_color), foreground


def _render_code_inline(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    background = "#3a3f46" if _state(env).dark else "#eff1f3"
    return f'<code style="background-color:{background}; {_MONOSPACE}">{escape(tokens[idx].content)}</code>'


def _render_image(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    # Never an <img>: loading it would tell a server that the reply was read.
    token = tokens[idx]
    alt = renderer.renderInlineAsText(token.children or [], options, env)
    src = str(token.attrs.get("src", ""))
    return f'<span style="color:{_GREY};">{escape(f"[image: {alt}]({src})")}</span>'


def _render_link_open(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    href = str(tokens[idx].attrs.get("href", ""))
    scheme = href.partition(":")[0].lower() if ":" in href else ""
    is_link = scheme in OPENABLE_SCHEMES
    _state(env).links.append(is_link)
    if not is_link:
        return ""  # a relative or odd-scheme link: its text alone
    return f'<a href="{escape(href)}" title="{escape(href)}">'


def _render_link_close(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    links = _state(env).links
    return "</a>" if links and links.pop() else ""


def _render_heading_open(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    # Qt's own heading sizes (h1 is xx-large) dwarf a narrow pane.
    tag = tokens[idx].tag
    return f'<{tag} style="font-size:{_HEADING_SIZES.get(tag, "medium")};">'


def _render_blockquote_open(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    # Qt draws no side bar for quotes: grey text tells them from the reply's own words.
    return f'<blockquote style="color:{_GREY};">'


def _render_table_open(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return (
        '<table border="1" cellspacing="0" cellpadding="4"'
        f' style="margin-top:8px; margin-bottom:8px; border-collapse:collapse; border-color:{_GREY};">\n'
    )
