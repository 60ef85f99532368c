"""Grouping prompts by a shared token prefix, so a local model computes that prefix's KV cache once.

In WVS evaluation every persona's questions start with the same system prompt (the persona) and differ in the
question: sorted by token ids, a persona's prompts are neighbours whose common prefix is long, while neighbouring
personas share only the template's first tokens. A new group starts where the common prefix with the next prompt
is short (under `min_prefix` tokens) or less than half the group's prefix so far: that keeps personas apart
instead of letting them share a few template tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MIN_PREFIX_TOKENS = 32  # below this a separate prefix pass costs more than it saves


@dataclass(frozen=True)
class PrefixGroup:
    """Prompts (by index into the caller's list) that start with the same `prefix_len` tokens; every prompt has at
    least one token after the prefix (its last token's logits are needed)."""

    members: tuple[int, ...]
    prefix_len: int


def common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def group_by_prefix(prompts: Sequence[Sequence[int]], min_prefix: int = MIN_PREFIX_TOKENS,
                    ) -> tuple[list[PrefixGroup], list[int]]:
    """Split prompts into shared-prefix groups and the rest.

    Args:
        prompts: token ids per prompt.
        min_prefix: the shortest prefix worth a pass of its own.

    Returns:
        (groups of two or more prompts sharing at least `min_prefix` tokens, indices of the other prompts).
    """
    order = sorted(range(len(prompts)), key=lambda i: tuple(prompts[i]))
    groups: list[PrefixGroup] = []
    singles: list[int] = []
    current: list[int] = []
    shared = 0

    def close() -> None:
        if len(current) >= 2:
            shortest = min(len(prompts[i]) for i in current)
            groups.append(PrefixGroup(tuple(current), min(shared, shortest - 1)))
        else:
            singles.extend(current)

    for index in order:
        if current:
            lcp = common_prefix_len(prompts[current[-1]], prompts[index])
            joined = min(shared, lcp) if len(current) > 1 else lcp
            if lcp >= min_prefix and (len(current) == 1 or joined * 2 >= shared):
                current.append(index)
                shared = joined
                continue
            close()
        current, shared = [index], 0
    if current:
        close()
    # a group whose prefix shrank below the minimum (a prompt that is all prefix) is not worth its pass
    kept = [g for g in groups if g.prefix_len >= min_prefix]
    singles.extend(i for g in groups if g.prefix_len < min_prefix for i in g.members)
    return kept, sorted(singles)
