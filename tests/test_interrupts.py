"""Ctrl-C is never lost: an interrupt swallowed inside a finalizer still stops the stage loop at the next group."""

from __future__ import annotations

import signal

import pytest
from pydantic import BaseModel

from clca import interrupts
from clca.jsonl import JsonlStore
from clca.resumable import Produced, StageOutput, run_groups


class Rec(BaseModel):
    id: str


class SwallowsInterrupt:
    def __del__(self):
        interrupts.on_sigint(signal.SIGINT, None)  # KeyboardInterrupt inside __del__: Python prints and ignores it


def test_an_interrupt_swallowed_in_a_finalizer_still_stops_the_loop_after_the_group(tmp_path):
    groups = []

    def produce(group: list[int]) -> Produced[Rec]:
        groups.append(group)
        if len(groups) == 1:
            obj = SwallowsInterrupt()
            del obj  # the interrupt is raised and swallowed here, as when the garbage collector runs a finalizer
        return Produced(records=[Rec(id=str(i)) for i in group])

    output = StageOutput(tmp_path / "out.jsonl", Rec)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_groups(list(range(10)), produce, output, group_size=2, description="test")
    finally:
        interrupts._received.clear()
    assert groups == [[0, 1]]  # the group in progress finished and was written; no later group started
    assert [r.id for r in JsonlStore(tmp_path / "out.jsonl", Rec).read()] == ["0", "1"]


def test_without_an_interrupt_check_does_nothing():
    interrupts.check()
