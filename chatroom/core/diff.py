"""Word-level comparison of two texts, for comparing two seats' replies.

difflib does all the matching; this module only chooses what it matches.
SequenceMatcher's time grows with the square of how often an element recurs
in the range it searches, so:

* The elements it matches are *units*: a word or punctuation run together
  with the whitespace after it. As separate tokens, a lone space recurs on
  every other token: 4 KB against 4 KB took 2.7 s as tokens, 45 ms as units.
* Texts are compared line by line first (a line carries its trailing blank
  lines, so blank lines never recur on their own), then changed stretches unit
  by unit, then short changed runs token by token, so that "cat " -> "dog "
  marks only the word.
* A changed stretch too big for one pass is cut into chunks at proportional
  points and each left chunk is compared with its right partner: the cost stays
  bounded for two unrelated 50 KB replies, at the price of some noise where a
  chunk boundary falls.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["DiffOp", "diff_words", "similarity", "similarity_of", "tokenize"]

DiffKind = Literal["equal", "insert", "delete", "replace"]

_TOKEN: Final = re.compile(r"\w+|\s+|[^\w\s]+")
_UNIT: Final = re.compile(r"\w+\s*|[^\w\s]+\s*|\s+")
_LINE: Final = re.compile(r"[^\n]*\n+|[^\n]+")
# Pairs of units compared in one pass; about 2 KB a side. Measured: a chunk
# pair this size takes 2-5 ms, so 50 KB a side stays well under a second.
_MAX_UNIT_PAIRS: Final = 250_000
# A changed run is refined token by token only while it is this small.
_MAX_TOKEN_PAIRS: Final = 10_000

_Refine = Callable[[str, str], list["DiffOp"]]


@dataclass(frozen=True)
class DiffOp:
    """One stretch of the comparison.

    `left` is the stretch's text in the left text and `right` in the right one:
    equal in both for "equal", "" on the left for "insert", "" on the right for
    "delete". Joining every op's `left` gives the left text back; likewise right.
    """

    kind: DiffKind
    left: str
    right: str


def tokenize(text: str) -> list[str]:
    """Words, whitespace runs and punctuation runs; joined, they give `text` back."""
    return _TOKEN.findall(text)


def diff_words(left: str, right: str) -> list[DiffOp]:
    """The word-level differences from `left` to `right`.

    Equal and changed stretches alternate: no two neighbouring ops are both
    equal or both changes. Identical non-empty texts give one equal op.
    """
    ops = _diff_sequences(_LINE.findall(left), _LINE.findall(right), _diff_changed_lines)
    return _normalised(_slid_to_line_starts(_normalised(ops)))


def similarity(left: str, right: str) -> float:
    """How alike two texts are, 0..1: the share of words and punctuation that match."""
    return similarity_of(diff_words(left, right))


def similarity_of(ops: Sequence[DiffOp]) -> float:
    """The similarity of a computed diff (see `similarity`); whitespace does not count.

    Counting whitespace would call any two English texts half alike.
    """
    matched = sum(_word_count(op.left) for op in ops if op.kind == "equal")
    total = sum(_word_count(op.left) + _word_count(op.right) for op in ops)
    if total == 0:  # whitespace only, or empty: alike only if identical
        return 1.0 if all(op.kind == "equal" for op in ops) else 0.0
    return 2 * matched / total


def _word_count(text: str) -> int:
    return sum(1 for token in _TOKEN.findall(text) if not token.isspace())


def _diff_sequences(a: list[str], b: list[str], refine: _Refine | None) -> list[DiffOp]:
    """Match two element lists; hand each replaced stretch to `refine`, if any."""
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    ops: list[DiffOp] = []
    for kind, i1, i2, j1, j2 in matcher.get_opcodes():
        left, right = "".join(a[i1:i2]), "".join(b[j1:j2])
        if kind == "replace" and refine is not None:
            ops.extend(refine(left, right))
        else:
            ops.append(DiffOp(kind, left, right))
    return ops


def _diff_changed_lines(left: str, right: str) -> list[DiffOp]:
    """Compare a changed stretch of lines unit by unit, chunk by chunk."""
    a, b = _UNIT.findall(left), _UNIT.findall(right)
    chunks = max(1, math.ceil(math.sqrt(len(a) * len(b) / _MAX_UNIT_PAIRS)))
    ops: list[DiffOp] = []
    for k in range(chunks):
        a_part = a[len(a) * k // chunks : len(a) * (k + 1) // chunks]
        b_part = b[len(b) * k // chunks : len(b) * (k + 1) // chunks]
        ops.extend(_diff_sequences(a_part, b_part, _diff_changed_units))
    return ops


def _diff_changed_units(left: str, right: str) -> list[DiffOp]:
    """Split a short changed run into tokens so that unchanged whitespace is not marked."""
    a, b = tokenize(left), tokenize(right)
    if len(a) * len(b) > _MAX_TOKEN_PAIRS:
        return [DiffOp("replace", left, right)]
    return _diff_sequences(a, b, None)


def _normalised(ops: list[DiffOp]) -> list[DiffOp]:
    """Drop empty ops, merge neighbours of the same sort, and name each change by its sides."""
    merged: list[DiffOp] = []
    for op in ops:
        if not op.left and not op.right:
            continue
        if merged and (merged[-1].kind == "equal") == (op.kind == "equal"):
            last = merged.pop()
            op = _op(last.kind == "equal", last.left + op.left, last.right + op.right)
        merged.append(op)
    return merged


def _slid_to_line_starts(ops: list[DiffOp]) -> list[DiffOp]:
    """Slide each added or removed run, where the choice is free, to start a line.

    After "key" the insertion ".\n4. Return None" before ".\n" matches just as
    well as "4. Return None.\n" after "key.\n"; the second reads as the added line.
    """
    result = list(ops)
    for index in range(1, len(result) - 1):
        before, op, after = result[index - 1 : index + 2]
        if op.kind not in ("insert", "delete") or before.kind != "equal" or after.kind != "equal":
            continue
        moved = op.left or op.right
        shift = _line_start_shift(before.left, moved, after.left)
        if shift > 0:
            before_text, moved, after_text = before.left + after.left[:shift], moved[shift:] + moved[:shift], after.left[shift:]
        elif shift < 0:
            before_text, moved, after_text = before.left[:shift], moved[shift:] + moved[:shift], moved[shift:] + after.left
        else:
            continue
        result[index - 1 : index + 2] = [
            DiffOp("equal", before_text, before_text),
            DiffOp(op.kind, moved if op.left else "", moved if op.right else ""),
            DiffOp("equal", after_text, after_text),
        ]
    return result


def _line_start_shift(before: str, moved: str, after: str) -> int:
    """How far `moved` can slide (right > 0, left < 0) to start a line; 0 if it should stay."""
    if not before or before.endswith("\n"):
        return 0
    # Neither neighbour may be used up: that would merge this run with the next change.
    shift = 0
    while shift < min(len(moved), len(after) - 1) and moved[shift] == after[shift]:
        shift += 1
        if after[shift - 1] == "\n":
            return shift
    shift = 0
    while shift < min(len(moved), len(before) - 1) and moved[-1 - shift] == before[-1 - shift]:
        shift += 1
        if before[-1 - shift] == "\n":
            return -shift
    return 0


def _op(is_equal: bool, left: str, right: str) -> DiffOp:
    if is_equal:
        return DiffOp("equal", left, right)
    if not left:
        return DiffOp("insert", left, right)
    if not right:
        return DiffOp("delete", left, right)
    return DiffOp("replace", left, right)
