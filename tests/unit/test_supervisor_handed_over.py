"""A loop whose work another loop takes over (`HandedOver`): the supervisor forgets it, neither
starting it again nor reporting it ended, before the work is handed over, so a loop of the
same name may be started again at once."""

from __future__ import annotations

import threading
from typing import Any

from workers.supervisor import HandedOver, Supervisor


def test_a_loop_that_hands_its_work_over_is_forgotten_before_the_hand_over() -> None:
    supervisor = Supervisor("unused", first_backoff=0.1)
    handed = threading.Event()
    seen: list[dict[str, dict[str, Any]]] = []
    again = threading.Event()

    def hand_over() -> None:  # what the loop taking over does: may start the name again
        seen.append(supervisor.states())
        supervisor.start("projection-stock", runs)
        handed.set()

    def runs(stop: threading.Event, conninfo: str) -> None:
        again.set()
        stop.wait()

    def loop(stop: threading.Event, conninfo: str) -> None:
        raise HandedOver("projection stock goes back to its group", then=hand_over)

    try:
        supervisor.start("projection-stock", loop)
        assert handed.wait(10.0)
        assert seen == [{}]  # gone from the states when the work was handed over
        assert again.wait(10.0)
        states = supervisor.states()
        assert states["projection-stock"]["state"] == "running"
        assert states["projection-stock"]["restarts"] == 0
        assert supervisor.healthy()
    finally:
        assert supervisor.stop(timeout=5.0) == []
