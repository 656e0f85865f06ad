"""The command line's size and day options are bounded: a mistyped number is refused by argparse
(exit 2) instead of an overflow traceback after the container is built, or a plan that fills
memory before the first visit."""

from __future__ import annotations

import pytest

from servicecore.cli import parser
from servicecore.demo_commands import MAX_DEMO_VISITS


@pytest.mark.parametrize(("argv", "option"), [
    # 100,000 months ago is before year 1: OverflowError once the database was connected
    (["demo-data", "--months", "100000"], "--months"),
    (["demo-data", "--months", "-5"], "--months"),
    # one desk's day of 10^7 visits was planned in memory first: 34 s and 501 MB
    (["demo-data", "--months", "1", "--per-day", "1e9"], "--per-day"),
    (["demo-data", "--months", "1", "--per-day", "nan"], "--per-day"),
    (["demo-data", "--months", "1", "--per-day", "0"], "--per-day"),
    (["demo-data", "--months", "1", "--lanes", "0"], "--lanes"),  # ZeroDivisionError
    (["demo-data", "--months", "1", "--jobs", "0"], "--jobs"),
    (["demo-data", "--stores", "0"], "--stores"),
    # 2,000,000 visits spread over 5/4 as many days: before year 1 too
    (["demo-data", "--visits", "2000000"], "--visits"),
    (["serve", "--demo", "--demo-visits", "-1"], "--demo-visits"),
    (["demo-data", "--months", "twelve"], "--months"),
    # the API's day range: the day after 9999-12-31 was an OverflowError traceback
    (["audit", "repair-records", "--date", "9999-12-31"], "--date"),
    (["audit", "repair-records", "--date", "0001-01-01"], "--date"),
])
def test_an_out_of_bounds_size_is_refused_before_anything_runs(
        argv: list[str], option: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args(argv)
    assert exit_.value.code == 2
    assert f"argument {option}:" in capsys.readouterr().err


def test_sizes_within_bounds_and_the_defaults_still_parse() -> None:
    args = parser().parse_args(["demo-data", "--stores", "99", "--months", "120",
                                "--per-day", "200", "--lanes", "16", "--jobs", "64"])
    assert (args.stores, args.months, args.per_day, args.lanes, args.jobs) == \
        (99, 120, 200.0, 16, 64)
    small = parser().parse_args(["demo-data", "--visits", str(MAX_DEMO_VISITS)])
    assert (small.visits, small.stores, small.months, small.per_day, small.lanes,
            small.jobs) == (MAX_DEMO_VISITS, 1, 0, 4.0, 3, None)
    assert parser().parse_args(["serve", "--demo"]).demo_visits == 36
    edges = [parser().parse_args(["audit", "repair-records", "--date", day]).date.isoformat()
             for day in ("1900-01-01", "9998-12-31")]
    assert edges == ["1900-01-01", "9998-12-31"]
