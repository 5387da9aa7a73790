"""A memo keeps the answers it is given, and never more than its bound."""

from __future__ import annotations

from callflow.engine.memo import Memo


def test_an_answer_kept_is_found_again() -> None:
    memo: Memo[str, int] = Memo(4)
    assert memo.get("a") is None
    assert memo.keep("a", 1) == 1
    assert memo.get("a") == 1


def test_a_full_memo_starts_again_rather_than_grow() -> None:
    """The questions follow the clock: when the bound is reached the old answers go."""
    memo: Memo[int, int] = Memo(3)
    for question in range(10):
        memo.keep(question, question * 2)
        assert len(memo) <= 3
    assert memo.get(9) == 18
    assert memo.get(0) is None
