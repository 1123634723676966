"""The history panel's pure helpers (its widgets are tested through the window in test_history.py)."""

from __future__ import annotations

from chatroom.ui.history_panel import first_match


def test_the_first_match_of_a_snippet() -> None:
    # The store marks each matched word between \x02 and \x03.
    assert first_match("the \x02sky\x03 is \x02blue\x03") == "sky"
    assert first_match("why the \x02sky\x03 \x02is\x03 blue") == "sky is"  # a phrase: one match
    assert first_match("no marks here") == ""
    assert first_match("an unclosed \x02mark") == ""
