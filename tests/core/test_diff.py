"""Word-level diff: exact ops, similarity, reconstruction, and speed on long replies."""

from __future__ import annotations

import random
import time

import pytest

from chatroom.core.diff import DiffOp, diff_words, similarity, similarity_of, tokenize

WORDS = ["the", "cat", "sat", "on", "a", "mat", "déjà", "vu", "x1", "_", "42"]
SEPARATORS = [" ", " ", " ", "\n", "\n\n", ", ", ". ", "!", "  ", "\t", "—", "**"]


def random_text(rng: random.Random, words: int) -> str:
    return "".join(rng.choice(WORDS) + rng.choice(SEPARATORS) for _ in range(words))


def mutated(rng: random.Random, text: str) -> str:
    tokens = tokenize(text)
    for _ in range(rng.randint(0, 6)):
        at = rng.randrange(len(tokens) + 1)
        action = rng.choice(["insert", "delete", "replace"])
        if action == "insert" or at == len(tokens):
            tokens.insert(at, rng.choice(WORDS + SEPARATORS))
        elif action == "delete":
            del tokens[at]
        else:
            tokens[at] = rng.choice(WORDS + SEPARATORS)
    return "".join(tokens)


def long_reply(rng: random.Random, size: int) -> str:
    """Prose-like text with a skewed vocabulary (few words recur a lot), as replies have."""
    vocabulary = [f"word{i}" for i in range(2000)]
    weights = [1 / (rank + 1) for rank in range(2000)]
    sentences: list[str] = []
    length = 0
    while length < size:
        sentence = " ".join(rng.choices(vocabulary, weights, k=rng.randint(5, 20)))
        sentence += rng.choice([". ", ", ", ".\n", ".\n\n"])
        sentences.append(sentence)
        length += len(sentence)
    return "".join(sentences)[:size]


@pytest.mark.parametrize(
    "text",
    ["", "word", "Hello, world!", "  lead\n\n\ttrail  ", "déjà-vu… «ok» 42_x", "a\r\nb", "😀 emoji 😀"],
)
def test_tokens_join_back_to_the_text(text: str) -> None:
    assert "".join(tokenize(text)) == text


def test_tokens_are_words_and_runs() -> None:
    assert tokenize("Hi,  you!!\n") == ["Hi", ",", "  ", "you", "!!", "\n"]


def test_identical_texts_give_one_equal_op() -> None:
    text = "The same reply.\n\nTwice."
    assert diff_words(text, text) == [DiffOp("equal", text, text)]
    assert similarity(text, text) == 1.0


def test_texts_with_no_word_in_common_are_not_similar() -> None:
    assert similarity("alpha beta", "gamma,delta") == 0.0
    assert diff_words("alpha beta", "gamma,delta") == [DiffOp("replace", "alpha beta", "gamma,delta")]


def test_an_inserted_word() -> None:
    assert diff_words("the cat sat", "the black cat sat") == [
        DiffOp("equal", "the ", "the "),
        DiffOp("insert", "", "black "),
        DiffOp("equal", "cat sat", "cat sat"),
    ]


def test_a_deleted_word() -> None:
    assert diff_words("the black cat sat", "the cat sat") == [
        DiffOp("equal", "the ", "the "),
        DiffOp("delete", "black ", ""),
        DiffOp("equal", "cat sat", "cat sat"),
    ]


def test_a_replaced_word_marks_only_the_word() -> None:
    assert diff_words("the cat sat.", "the dog sat.") == [
        DiffOp("equal", "the ", "the "),
        DiffOp("replace", "cat", "dog"),
        DiffOp("equal", " sat.", " sat."),
    ]


def test_changed_punctuation() -> None:
    assert diff_words("Done.", "Done!") == [DiffOp("equal", "Done", "Done"), DiffOp("replace", ".", "!")]


def test_an_added_line_is_marked_as_that_line() -> None:
    # The matcher is free to take "." + ".\n4. d" + ".\n"; the added line reads better.
    assert diff_words("3. c.\n\nEnd", "3. c.\n4. d.\n\nEnd") == [
        DiffOp("equal", "3. c.\n", "3. c.\n"),
        DiffOp("insert", "", "4. d.\n"),
        DiffOp("equal", "\nEnd", "\nEnd"),
    ]
    assert diff_words("a\nnew q\nq\n", "a\nq\n") == [
        DiffOp("equal", "a\n", "a\n"),
        DiffOp("delete", "new q\n", ""),
        DiffOp("equal", "q\n", "q\n"),
    ]


def test_similarity_ignores_whitespace() -> None:
    # 3 words a side, 2 matching: 2*2 / 6.
    assert similarity("one two three", "one  two\nfour") == pytest.approx(4 / 6)
    assert similarity("", "") == 1.0
    assert similarity(" ", "\n") == 0.0
    assert similarity("", "word") == 0.0


def test_empty_sides() -> None:
    assert diff_words("", "") == []
    assert diff_words("", "new text") == [DiffOp("insert", "", "new text")]
    assert diff_words("old text", "") == [DiffOp("delete", "old text", "")]


def check_ops(ops: list[DiffOp], left: str, right: str) -> None:
    assert "".join(op.left for op in ops) == left
    assert "".join(op.right for op in ops) == right
    for op in ops:
        assert op.left or op.right
        if op.kind == "equal":
            assert op.left == op.right
        elif op.kind == "insert":
            assert op.left == "" and op.right
        elif op.kind == "delete":
            assert op.left and op.right == ""
        else:
            assert op.left and op.right
    for first, second in zip(ops, ops[1:]):
        assert (first.kind == "equal") != (second.kind == "equal"), "neighbours should have been merged"


def test_both_texts_are_rebuilt_from_the_ops() -> None:
    rng = random.Random(20260101)
    for _ in range(300):
        left = random_text(rng, rng.randint(0, 40))
        right = mutated(rng, left) if rng.random() < 0.7 else random_text(rng, rng.randint(0, 40))
        ops = diff_words(left, right)
        check_ops(ops, left, right)
        assert 0.0 <= similarity_of(ops) <= 1.0


def test_long_texts_are_rebuilt_too() -> None:
    # Long enough that changed stretches are cut into chunks.
    rng = random.Random(7)
    left = long_reply(rng, 30_000)
    right = long_reply(rng, 20_000)
    check_ops(diff_words(left, right), left, right)


@pytest.mark.parametrize("kind", ["unrelated", "every line edited"])
def test_two_50_kb_replies_are_compared_quickly(kind: str) -> None:
    rng = random.Random(3)
    left = long_reply(rng, 50_000)
    if kind == "unrelated":
        right = long_reply(rng, 50_000)
    else:
        tokens = tokenize(left)
        for at in range(0, len(tokens), 20):
            tokens[at] = f"edit{at}"
        right = "".join(tokens)
    started = time.perf_counter()
    ops = diff_words(left, right)
    elapsed_s = time.perf_counter() - started
    print(f"diff_words on 2 x 50 KB ({kind}): {elapsed_s * 1000:.0f} ms, {len(ops)} ops")
    check_ops(ops, left, right)
    assert elapsed_s < 15.0  # a pathological slowdown, not a speed goal
    if kind == "every line edited":
        assert similarity_of(ops) > 0.8
