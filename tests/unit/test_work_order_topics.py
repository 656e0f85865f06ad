"""A stored work-order event is decoded by its topic (module and class path): the topics of
`WorkOrder`'s events must stay as they were stored, wherever the aggregate's code moves."""

from __future__ import annotations

from eventsourcing.domain import CanMutateAggregate
from eventsourcing.utils import get_topic, resolve_topic

from domain.work_order import WorkOrder

STORED = (
    "BackInProgress", "Cancelled", "CheckedIn", "ComebackMarkWithdrawn", "ComebackMarked", "ClockedOff", "ClockedOn", "Closed",
    "CompensationRecorded", "CompletionCertified", "Created", "Delivered", "Diagnosed", "Event",
    "EvidenceAdded", "EvidenceWithdrawn", "JobAdded", "JobClosed", "JobCompleted", "JobDispatched",
    "LineAdded", "LineAuthorized", "LineRepriced", "LineWithdrawn", "LinesCarriedOver",
    "LinesMoved", "Opened", "PartSupply", "PartsIssued", "PartsReturned", "QualityChecked",
    "ReadyForSettlement", "SerialsRecorded", "Settled", "SettlementConfirmed",
    "SettlementReversed",
)


def test_work_order_events_keep_their_stored_topics() -> None:
    events = {name: value for name, value in vars(WorkOrder).items()
              if isinstance(value, type) and issubclass(value, CanMutateAggregate)}
    assert sorted(events) == sorted(STORED)
    for name, cls in events.items():
        topic = f"domain.work_order:WorkOrder.{name}"
        assert get_topic(cls) == topic
        assert resolve_topic(topic) is cls


def test_the_aggregate_stays_in_its_module() -> None:
    assert get_topic(WorkOrder) == "domain.work_order:WorkOrder"
    assert WorkOrder.Opened.__module__ == "domain.work_order"
