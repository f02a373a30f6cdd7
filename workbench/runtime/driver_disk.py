"""The node driver's durability steps: `Persist` under a disk model, and crash points
inside a step (issue 12). A mixin of `runtime.driver.NodeDriver`, split out by job as
etcd splits raft.go from log.go: same object, no extra hop on the hot path.

Durability (`Persist`): without a disk model the records are applied to `Storage` at
once, in outbox order. With one (`disk`, a `core.storage.Disk`), the write is queued
and every `Send`/`Reply` after it — in this outbox and any later one — is held, in
order, until the fsync is acknowledged (etcd's `msgsAfterAppend`); a release is a
transport schedule named `DISK_TIMER`. A crash loses the held effects and every write
not yet durable (`Disk.crash`). Both runtimes do this here, the same way.

Crash points (`arm_crash`): a fault may ask a node to die *inside* its next step that
has a given point — after its writes are durable but before it sends, between two
records of one write, or after its sends but before its reply — so that recovery is
tested at the seams a real process can die at (DESIGN.md, "Durability and the disk
model").
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from workbench.core.effects import (
    CancelTimer,
    Observe,
    Persist,
    Reply,
    Send,
    SetTimer,
    writes_record,
)
from workbench.core.storage import Extend

if TYPE_CHECKING:
    from workbench.runtime.driver import NodeDriver

# The transport schedule that releases effects held behind an fsync (never a core timer).
DISK_TIMER = "__disk"


class DiskSteps:
    __slots__ = ()

    def _drain_disk(self: NodeDriver, effects: list[Any], now: float) -> bool:
        """`_drain` with a disk model: sends and replies wait, in order, for earlier fsyncs."""
        disk = self.disk
        assert disk is not None
        held, me = self.held, self.id
        stamp: float | None = None
        for effect in effects:
            cls = type(effect)
            if cls is Persist or cls is Extend:
                done = disk.write(effect.records if cls is Persist else (effect,), now)
                if done > self.hold_until:
                    self.hold_until = done
            elif cls is Send or cls is Reply:
                if held or self.hold_until > now:
                    held.append((self.hold_until, effect))
                elif cls is Send:
                    self.sent += 1
                    self._send(me, effect.to, effect.message)
                else:
                    self._reply(me, effect)
            elif cls is SetTimer:
                deadline = now + effect.delay_ms / self.rate
                timer = self.timers.get(effect.name)
                if timer is not None and timer[2] <= deadline:
                    timer[1] = deadline
                else:
                    token = self._schedule(deadline, me, effect.name, None)
                    self.timers[effect.name] = [token, deadline, deadline]
            elif cls is CancelTimer:
                self.timers.pop(effect.name, None)
            elif cls is Observe:
                if stamp is None:
                    stamp = round(now, 3)
                self.trace.append({"time": stamp, "kind": effect.kind, "node": me, **effect.fields})
        self._arm_release()
        if self.check is not None:
            self.check(now)
        return True

    def _arm_release(self: NodeDriver) -> None:
        held = self.held
        if held and (self.release_at is None or self.release_at > held[0][0]):
            self.release_at = held[0][0]
            self._schedule(held[0][0], self.id, DISK_TIMER, None)

    def _release(self: NodeDriver, now: float) -> None:
        """An fsync completed: make its writes durable and let out what waited for it."""
        disk = self.disk
        if disk is None:
            return
        disk.sync(now)
        held, me = self.held, self.id
        k = 0
        while k < len(held) and held[k][0] <= now:
            effect = held[k][1]
            if type(effect) is Send:
                self.sent += 1
                self._send(me, effect.to, effect.message)
            else:
                self._reply(me, effect)
            k += 1
        del held[:k]
        self.release_at = None
        self._arm_release()

    # ------------------------------------------------------------ crash points (issue 12)
    def arm_crash(self: NodeDriver, point: str, *, fault_id: int, rng: random.Random,
                  landed: Callable[[int, str, int], None], record: str | None = None) -> None:
        """Crash inside the node's next step that has `point` (`faults.spec.CrashPoint`).

        `rng` draws the cut of a `mid_persist`; `landed(fault_id, point, records_kept)`
        is called when the crash lands, before the node is torn down (the transport
        traces it). Until then the node runs as usual; `disarm_crash` takes it back.
        `record` (mid_persist): skip steps that do not write a record of that name."""
        self.crash_point, self.crash_fault = point, fault_id
        self.crash_record = record
        self.crash_rng, self.crash_landed = rng, landed

    def disarm_crash(self: NodeDriver, fault_id: int) -> bool:
        """Take back the crash point of `fault_id`; False if it is no longer armed
        (it landed, or a plain crash came first and took it with it)."""
        if self.crash_fault != fault_id:
            return False
        self.crash_point = self.crash_fault = self.crash_rng = self.crash_landed = None
        return True

    def _crash_inside(self: NodeDriver, effects: list[Any], now: float) -> bool:
        """Carry out `effects` up to the armed crash point and crash there; False (and
        nothing done) when this step has no such point.

        - `after_persist`: the step persists and then sends or replies; the crash falls
          after its writes are durable, before the first send or reply behind them.
        - `mid_persist`: the step writes two or more records (one `Persist` of several,
          or several persists); a random proper prefix of them is durable, then the crash.
          `PutMany` is one record: it is never cut (the point of one atomic record).
        - `before_reply`: the step replies to a client after a write or a send; its
          writes and sends are out, the crash falls before its first reply.
        - `after_send` (disk model only): the step writes and sends; it is carried out
          as usual (sends behind its write held, any before it out) and the crash falls
          at its end, before its fsync completes: the seam where an ack that did not
          wait for its write is out and the write is lost.
        Effects before the cut run in order; with a disk model every earlier write is
        made durable first (its fsync completed just now) and the sends and replies held
        behind it go out, so the crash falls exactly between durable and not sent.
        """
        point = self.crash_point
        cut = -1  # effects[:cut] are carried out
        keep = -1  # mid_persist: records that reach storage
        wrote = sent = False
        if point == "after_send":
            if self.disk is None or not any(type(e) is Send for e in effects) or not any(
                    type(e) is Persist or type(e) is Extend for e in effects):
                return False
            self._drain_disk(effects, now)
            landed, fault = self.crash_landed, self.crash_fault
            if landed is not None and fault is not None:
                landed(fault, point, 0)
            self.crash()
            if self.check is not None:
                self.check(now)
            return True
        if point == "mid_persist":
            total = sum(len(e.records) if type(e) is Persist else 1
                        for e in effects if type(e) is Persist or type(e) is Extend)
            if total < 2 or (self.crash_record is not None and not writes_record(effects, self.crash_record)):
                return False
            keep = self.crash_rng.randint(1, total - 1)  # type: ignore[union-attr]
            cut = len(effects)
        else:
            for i, effect in enumerate(effects):
                cls = type(effect)
                if cls is Persist or cls is Extend:
                    wrote = True
                elif cls is Send:
                    if point == "after_persist" and wrote:
                        cut = i
                        break
                    sent = True
                elif cls is Reply and (wrote if point == "after_persist" else wrote or sent):
                    cut = i
                    break
            if cut < 0:
                return False
        if self.disk is not None:
            self.disk.sync(float("inf"))
            self._release(float("inf"))
        storage, me = self.storage, self.id
        written = 0
        for effect in effects[:cut]:
            cls = type(effect)
            if cls is Persist or cls is Extend:
                records = effect.records if cls is Persist else (effect,)
                if keep >= 0 and written + len(records) >= keep:
                    storage.apply(records[:keep - written])
                    written = keep
                    break
                storage.apply(records)
                written += len(records)
            elif cls is Send:
                self.sent += 1
                self._send(me, effect.to, effect.message)
            elif cls is Reply:
                self._reply(me, effect)
            elif cls is Observe:
                self.trace.append({"time": round(now, 3), "kind": effect.kind, "node": me, **effect.fields})
        landed, fault = self.crash_landed, self.crash_fault
        if landed is not None and fault is not None:
            landed(fault, point, written)  # type: ignore[arg-type]
        self.crash()
        if self.check is not None:
            self.check(now)
        return True
