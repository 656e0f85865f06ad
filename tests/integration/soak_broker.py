"""What the broker lacks of the events the relay counts as published: the soak's Kafka check
says it when it gives up waiting, so that a failure can be read from the log alone. This
module holds no tests itself.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from domain.integration_events import ROUTES, UNROUTED_TOPIC
from tests.integration.kafka_support import Applied, TopicReader
from workers.relay import KafkaRelay
from workers.relay_consumer import decode
from workers.relay_offsets import load_acked

SHOWN = 20  # streams listed one by one; the rest only counted

Expected = list[tuple[int, str, int, str]]  # (notification id, stream id, version, kind)


def route_of(kind: str) -> str:
    return ROUTES[kind].topic if kind in ROUTES else UNROUTED_TOPIC


def partition_of(key: bytes, partitions: int) -> int:
    """The partition the producer's default partitioner puts `key` on."""
    from kafka.partitioner.default import DefaultPartitioner

    every = list(range(partitions))
    return int(DefaultPartitioner()(key, every, every))


def lacking(relay: KafkaRelay, expected: Expected, reader: TopicReader,
            applied: Applied) -> str:
    """Which expected stream versions a consumer from the broker's start could not apply
    (never there, or only after a gap), per partition; the broker's end offsets and the
    consumer's positions; the offsets the relay holds acknowledged, in memory and stored,
    and its stored position."""
    config = relay.config
    missing: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for nid, stream, version, kind in expected:
        if applied.gate.applied.get(stream, 0) < version:
            missing[stream].append((nid, version, kind))
    on_broker: dict[str, list[tuple[int, str, int, int]]] = defaultdict(list)
    for record in reader.records:
        stream = record.key.decode() if record.key else ""
        if stream in missing:
            version = int(decode(record.value)["stream_version"])
            on_broker[stream].append((version, record.topic, record.partition, record.offset))
    per_partition: Counter[tuple[str, int]] = Counter()
    lines = []
    for stream, rows in sorted(missing.items(), key=lambda item: item[1][0][0]):
        kind = rows[0][2]
        where = (config.topic_prefix + route_of(kind), partition_of(stream.encode(), config.partitions))
        per_partition[where] += len(rows)
        if len(lines) < SHOWN:
            seen = sorted(on_broker.get(stream, []))
            lines.append(
                f"  {kind} {stream} on {where[0]}[{where[1]}]: applied up to "
                f"v{applied.gate.applied.get(stream, 0)}, missing v{rows[0][1]}..v{rows[-1][1]} "
                f"({len(rows)}; notification ids {rows[0][0]}..{rows[-1][0]}); on the broker: "
                + (", ".join(f"v{v}@{p}:{o}" for v, _, p, o in seen[:12]) or "nothing"))
    prefix = config.topic_prefix
    total = (f"{sum(per_partition.values())} event(s) of {len(missing)} stream(s) missing "
             f"(of {len(expected)} expected, {len(reader.records)} records read)")
    more = [f"  ... and {len(missing) - SHOWN} more stream(s)"] if len(missing) > SHOWN else []
    return "\n".join([
        total, f"missing per partition: {brief(dict(per_partition), prefix)}", *lines, *more,
        f"the broker's end offsets: {brief(end_offsets(reader), prefix)}",
        f"the consumer's positions: {brief(positions(reader), prefix)}",
        f"the relay's acknowledged ends in memory: {brief(dict(relay.acked.ends), prefix)}",
        f"the relay's acknowledged ends stored: {brief(stored_ends(relay), prefix)}",
        f"the relay's position: stored {relay.stored}, in the database {relay.position()}",
        f"the relay's counts: {relay.stats}"])


def brief(offsets: dict[tuple[str, int], int] | str, prefix: str) -> str:
    """`topic[partition]=offset ...` without the topic prefix, in order."""
    if isinstance(offsets, str):
        return offsets
    return " ".join(f"{t.removeprefix(prefix)}[{p}]={o}" for (t, p), o in sorted(offsets.items()))


def end_offsets(reader: TopicReader) -> dict[tuple[str, int], int] | str:
    try:
        ends = reader.consumer.end_offsets(sorted(reader.assigned))
    except Exception as exc:  # noqa: BLE001 - a report: say why there is none
        return f"not known ({exc!r})"
    return {(tp.topic, tp.partition): int(end) for tp, end in sorted(ends.items())}


def positions(reader: TopicReader) -> dict[tuple[str, int], int] | str:
    try:
        return {(tp.topic, tp.partition): int(reader.consumer.position(tp))
                for tp in sorted(reader.assigned)}
    except Exception as exc:  # noqa: BLE001 - a report: say why there is none
        return f"not known ({exc!r})"


def stored_ends(relay: KafkaRelay) -> dict[tuple[str, int], int] | str:
    try:
        with relay.pool.connection() as conn:
            return dict(sorted(load_acked(conn, relay.config.position_name).items()))
    except Exception as exc:  # noqa: BLE001 - a report: say why there is none
        return f"not known ({exc!r})"
