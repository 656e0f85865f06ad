"""`servicecore kafka reset-topics`: the relay's topics deleted, and the consumer group of the
Kafka board, after the database was restored from a backup behind them (README: Restoring the
database from a backup).

The relay refuses to publish onto topics that hold events the restored log does not
(`LogBehindTopics`); deleted, they are made again by the relay, which finds its acknowledged
offsets gone and publishes the whole log from event 0. The witness topic (`audit-anchors`) is
kept unless asked for (`--witness-topic`): save it first (`servicecore audit witness-topic`),
since its anchors are the record of what the restore lost. Nothing is deleted without `--yes`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from servicecore.settings import Settings


def relay_topics(settings: Settings, witness_topic: bool) -> list[str]:
    """The topics the relay publishes to (the witness topic last, if asked for)."""
    from domain.integration_events import TOPICS
    from workers.anchor_relay import anchor_topic

    prefix = settings.kafka_topic_prefix
    return [prefix + t for t in TOPICS] + ([anchor_topic(prefix)] if witness_topic else [])


def _reset_topics(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.kafka_bootstrap_servers:
        print("KAFKA_BOOTSTRAP_SERVERS is not set: there is no broker to reset",
              file=sys.stderr)
        return 2
    topics = relay_topics(settings, args.witness_topic)
    groups = [settings.kafka_projection_group]
    if not args.yes:
        print(f"would delete on {settings.kafka_bootstrap_servers} the topics "
              f"{', '.join(topics)} and the consumer group {', '.join(groups)}; every "
              "consumer of them reads them again from the beginning. Stop the relay and the "
              "Kafka board first, then run again with --yes", file=sys.stderr)
        return 2
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers,
                             client_id="servicecore-reset-topics", request_timeout_ms=30_000)
    try:
        failed = sum(not _delete_topic(admin, topic) for topic in topics)
        failed += sum(not _delete_group(admin, group) for group in groups)
    finally:
        admin.close()
    if failed:
        print(f"{failed} deletion(s) failed (above); run again once they can be done",
              file=sys.stderr)
        return 1
    print("done: start the relay (it makes the topics again and publishes the log from event "
          "0), then the Kafka board; tell the topics' other consumers to read them again from "
          "the beginning")
    return 0


def _delete_topic(admin: Any, topic: str) -> bool:
    from kafka.errors import KafkaError, UnknownTopicOrPartitionError

    try:
        admin.delete_topics([topic])
    except UnknownTopicOrPartitionError:
        print(f"topic {topic}: not on the broker, nothing to delete")
        return True
    except KafkaError as exc:
        print(f"topic {topic}: not deleted ({exc!r})", file=sys.stderr)
        return False
    print(f"deleted topic {topic}")
    return True


def _delete_group(admin: Any, group: str) -> bool:
    from kafka.errors import GroupIdNotFoundError, KafkaError, NoError

    try:
        [(_, error)] = admin.delete_consumer_groups([group])
    except KafkaError as exc:
        error = type(exc)
    if error is NoError:
        print(f"deleted consumer group {group}")
        return True
    if error is GroupIdNotFoundError:
        print(f"consumer group {group}: not on the broker, nothing to delete")
        return True
    print(f"consumer group {group}: not deleted ({error.__name__}; is the Kafka board still "
          "running?)", file=sys.stderr)
    return False


def add_commands(sub: Any) -> None:
    """Add the `kafka` group to the command line (argparse subparsers)."""
    kafka = sub.add_parser("kafka", help="the relay's Kafka topics")
    ksub = kafka.add_subparsers(dest="action", required=True)
    reset = ksub.add_parser("reset-topics", help="delete the relay's topics and the Kafka "
                            "board's consumer group (after a restore of the database)")
    reset.add_argument("--yes", action="store_true",
                       help="do it (without: say what would be deleted, and delete nothing)")
    reset.add_argument("--witness-topic", action="store_true",
                       help="the witness topic (audit-anchors) too; save it first with "
                            "`servicecore audit witness-topic`")
    reset.set_defaults(run=_reset_topics)
