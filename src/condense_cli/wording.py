"""How counts are put into words in titles and messages: `count_of(2, "line") -> "2 lines"`."""
from __future__ import annotations


def count_of(k: int, noun: str) -> str:
    """'1 line', '0 lines', '2 lines': the count and its noun, singular only for one."""
    return f"{k} {noun_for(k, noun)}"


def noun_for(k: int, noun: str) -> str:
    """`noun` as a count of k takes it: singular only for one ('direction', 'directions')."""
    return noun if k == 1 else noun + "s"
