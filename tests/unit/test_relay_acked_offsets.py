"""The relay's record of acknowledged offsets against a model broker that loses records.

Whatever the broker loses (a restart that comes back empty, a truncated partition, records lost
while the relay was stopped), the notification id the relay goes back to is never past a lost
event: at most the lowest id among the lost acknowledged records, and 0 when some of them were
acknowledged before the process started (their ids are not known to it). A broker that lost
nothing is never taken for one that did, whether it reports the log end as one past the last
record (Apache Kafka) or as one past the first offset of the last batch (tansu 0.6).
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from workers.relay_offsets import BLOCK, AckedOffsets

PARTITIONS = [("t.work-orders", 0), ("t.work-orders", 1), ("t.stock", 0)]
partition = st.sampled_from(PARTITIONS)
P = tuple[str, int]


@dataclass(frozen=True)
class Record:
    offset: int
    batch: int  # the first offset of its batch
    nid: int | None  # None: written, never acknowledged; -1: acknowledged by an earlier process


class BrokerThatLosesRecords(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.acked = AckedOffsets()
        self.log: dict[P, list[Record]] = {p: [] for p in PARTITIONS}
        self.next_id = 1
        self.tansu = False

    @initialize(tansu=st.booleans())
    def a_broker(self, tansu: bool) -> None:
        """How it reports a partition's end: one past the last record, or (tansu 0.6) one
        past the first offset of the last batch."""
        self.tansu = tansu

    def end(self, p: P) -> int:
        return self.log[p][-1].offset + 1 if self.log[p] else 0

    def reported(self, p: P) -> int:
        if self.tansu and self.log[p]:
            return self.log[p][-1].batch + 1
        return self.end(p)

    def write_batch(self, p: P, size: int, acknowledged: bool) -> list[Record]:
        base = self.end(p)
        batch = []
        for i in range(size):
            batch.append(Record(base + i, base, self.next_id if acknowledged else None))
            self.next_id += 1
        self.log[p] += batch
        return batch

    @rule(p=partition, unacked=st.booleans(), size=st.integers(1, 5), skip=st.integers(0, 3),
          many=st.sampled_from([1, 1, 1, BLOCK // 4]))
    def acknowledge(self, p: P, unacked: bool, size: int, skip: int, many: int) -> None:
        for _ in range(many):
            self.next_id += skip
            if unacked:  # written, the acknowledgement lost: sent again later
                self.write_batch(p, 1, acknowledged=False)
            for r in self.write_batch(p, size, acknowledged=True):
                assert self.acked.record(p, r.offset, r.nid or 0, r.batch)

    @rule()
    def a_broker_that_lost_nothing_is_left_alone(self) -> None:
        assert self.acked.lost({p: self.reported(p) for p in PARTITIONS}) == []

    @rule(cut=st.dictionaries(partition, st.floats(0, 1), min_size=1))
    def broker_loses_whole_batches(self, cut: dict[P, float]) -> None:
        lost_ids: list[int | None] = []
        for p, keep in cut.items():
            held = int(len(self.log[p]) * keep)
            while 0 < held < len(self.log[p]) and self.log[p][held].batch != self.log[p][held].offset:
                held -= 1  # a batch is kept or lost whole
            lost_ids += [r.nid for r in self.log[p][held:]]
            self.log[p] = self.log[p][:held]
        self.reconcile(lost_ids)

    @rule(p=partition)
    def broker_lost_records_unnoticed_then_acknowledges_a_lower_offset(self, p: P) -> None:
        if not self.acked.ends.get(p):
            return
        lost = self.log[p]
        self.log[p] = []  # came back empty
        (r,) = self.write_batch(p, 1, acknowledged=True)
        # the offset went backwards: noticed at the acknowledgement (which is not counted)
        assert not self.acked.record(p, r.offset, r.nid or 0, r.batch)
        self.log[p] = [Record(r.offset, r.batch, None)]
        self.reconcile([x.nid for x in lost])

    @rule()
    def relay_process_restarts(self) -> None:
        # a new process loads the stored ends; it does not know the ids acknowledged before
        stored = dict(self.acked.ends)
        self.acked = AckedOffsets()
        self.acked.load(stored)
        self.log = {p: [Record(r.offset, r.batch, -1 if r.nid is not None else None)
                        for r in rows] for p, rows in self.log.items()}

    def reconcile(self, lost_ids: list[int | None]) -> None:
        """What the relay does on its next connection: compare, go back, forget."""
        held = {p: self.reported(p) for p in PARTITIONS}
        lost = self.acked.lost(held)
        acknowledged = [n for n in lost_ids if n is not None]
        if acknowledged:
            assert lost, "acknowledged records were lost unnoticed"
        first = self.acked.first_lost_id(lost)
        if any(n < 0 for n in acknowledged):  # acknowledged before this process started
            assert first == 0
        elif acknowledged:
            assert first <= min(acknowledged)
        self.acked.forget_lost(lost)

    @invariant()
    def never_ahead_of_what_the_broker_holds(self) -> None:
        for p, end in self.acked.ends.items():
            assert end <= self.end(p)


BrokerThatLosesRecords.TestCase.settings = settings(max_examples=150, stateful_step_count=25,
                                                    deadline=None)
TestBrokerThatLosesRecords = BrokerThatLosesRecords.TestCase
