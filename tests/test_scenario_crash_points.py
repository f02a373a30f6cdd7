"""Crash points in the scenario world (`crash N at=POINT`), as the explorer takes them (issue 13).

The simulator's driver cuts a step at the same seams (runtime/driver_disk.py); the world
has no disk model, so the cut is made in the step's own outbox.
"""

from __future__ import annotations

import pytest

from workbench.core.effects import Persist, Reply, Send
from workbench.core.storage import Put, PutMany
from workbench.errors import UserInputError
from workbench.scenario.crash_points import CrashPoint, landing, parse_crash_point
from workbench.scenario.runner import run_script
from workbench.scenario.script import parse_script

W1, W2, W3 = Put("a", 1), Put("b", 2), PutMany((("c", 3), ("d", 4)))
SEND = Send(1, "m")  # type: ignore[arg-type]
REPLY = Reply(0, 1, "ok")


def test_each_point_cuts_the_outbox_where_the_driver_does() -> None:
    persist_then_send = [Persist((W1, W2)), SEND, REPLY]
    assert landing(persist_then_send, CrashPoint("after_persist")) == (1, -1)
    assert landing(persist_then_send, CrashPoint("before_reply")) == (2, -1)
    assert landing(persist_then_send, CrashPoint("mid_persist", keep=1)) == (3, 1)
    assert landing(persist_then_send, CrashPoint("mid_persist", keep=2)) is None  # only two records
    assert landing(persist_then_send, CrashPoint("after_send")) == (0, 0)  # nothing before the write
    ack_first = [SEND, Persist((W1,))]  # an ack that does not wait for its write
    assert landing(ack_first, CrashPoint("after_send")) == (1, 0)
    assert landing(ack_first, CrashPoint("after_persist")) is None
    assert landing([Persist((W3,))], CrashPoint("mid_persist")) is None  # PutMany is one atomic record
    aimed = CrashPoint("mid_persist", keep=1, record="d")
    assert landing([Persist((W1, W2))], aimed) is None
    assert landing([Persist((W1, W3))], aimed) == (1, 1)
    assert landing([SEND], CrashPoint("before_reply")) is None


def test_crash_point_arguments_are_checked() -> None:
    assert parse_crash_point({}) is None
    assert parse_crash_point({"at": "mid_persist", "keep": "2", "record": "snapshot"}) == \
        CrashPoint("mid_persist", 2, "snapshot")
    for bad in ({"at": "sideways"}, {"at": "after_send", "keep": "1"}, {"keep": "1"},
                {"at": "mid_persist", "keep": "0"}):
        with pytest.raises(UserInputError):
            parse_crash_point(bad)


PAXOS_ACK = """\
cluster paxos nodes=3 election_timeout_min_ms=50 election_timeout_max_ms=100 {bug}
advance 75
stabilize
crash 1 at=after_send
client 0 write x 1
stabilize
status
"""


def _run(text: str, tmp_path, name: str) -> list[list[str]]:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_text("".join(f"{line}\n----\n\n" for line in text.splitlines()))  # outputs left blank
    return run_script(parse_script(path))


@pytest.mark.parametrize("bug", ["", "bug=accept_ack_before_persist"])
def test_after_send_lands_inside_the_accept_and_loses_its_write(bug: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = _run(PAXOS_ACK.format(bug=bug), tmp_path, "ack.txt")
    assert out[3] == ["armed 1 at after_send"]
    landed = [line for line in out[5] if "crashed at after_send" in line]
    assert landed == ["  1 crashed at after_send (0 records durable)"], out[5]
    # The mutant's Accepted left before the write; the correct acceptor sent nothing.
    at = out[5].index(landed[0])
    sent_by_1 = [line for line in out[5][at - 1:at] if line.startswith("  1->")]
    assert bool(sent_by_1) == bool(bug), out[5]
    assert "1: down" in out[6]
