"""Days and moments in one plain grammar (api/dates.py), as the API's `Day`, `PlainDay`,
`Moment` and `as_of`, and the command line's `--date`, read them: what the grammar accepts
reads back as the same day or moment; every lenient form pydantic (lax mode) or
`fromisoformat()` would also have read, often as another day, is refused."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from api.as_of import as_of_moment
from api.dates import Day, DayText, Moment, PlainDay, QueryMoment, day_or_moment_text
from domain.common import InvalidInput
from domain.days import FIRST_DAY, LAST_DAY
from servicecore.audit_exports import _day as cli_day

DAY, ANY_DAY, TEXT = TypeAdapter(Day), TypeAdapter(PlainDay), TypeAdapter(DayText)
MOMENT, QUERY_MOMENT = TypeAdapter(Moment), TypeAdapter(QueryMoment)
NOW = datetime(9998, 12, 31, tzinfo=UTC)  # every drawn moment is history

days = st.dates(min_value=FIRST_DAY, max_value=LAST_DAY)
zones = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5)),
                         timezone(timedelta(hours=5, minutes=30))])
moments = st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(9998, 12, 30),
                       timezones=zones)


def refused(adapter: TypeAdapter, value: object, kind: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python(value)
    assert [e["type"] for e in caught.value.errors()] == [kind]


@given(days)
def test_a_plain_day_reads_back_the_same(day: date) -> None:
    text = day.isoformat()
    assert DAY.validate_json(f'"{text}"') == ANY_DAY.validate_python(text) == day
    assert TEXT.validate_python(text) == text
    assert cli_day(text) == day
    assert as_of_moment(text, "Asia/Shanghai", NOW) is not None
    assert day_or_moment_text(text) == text


@given(moments, st.sampled_from(["seconds", "minutes", "microseconds"]))
def test_a_plain_moment_reads_back_the_same(moment: datetime, spec: str) -> None:
    text = moment.isoformat(timespec=spec)
    if spec == "minutes":
        moment = moment.replace(second=0, microsecond=0)
    elif spec == "seconds":
        moment = moment.replace(microsecond=0)
    assert MOMENT.validate_json(f'"{text}"') == moment
    assert MOMENT.validate_python(text).utcoffset() == moment.utcoffset()
    zulu = text.replace("+00:00", "Z")
    assert MOMENT.validate_python(zulu) == moment
    assert as_of_moment(text, "Asia/Shanghai", NOW) == moment
    # an unencoded "+08:00" of a query string arrives as " 08:00"
    assert QUERY_MOMENT.validate_python(text.replace("+", " ")) == moment


FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@st.composite
def lenient_days(draw: st.DrawFn) -> object:
    """The same day written some way a client never means, which pydantic or
    fromisoformat() reads (a number as a unix timestamp)."""
    day = draw(days)
    text = day.isoformat()
    midnight = datetime.combine(day, datetime.min.time(), UTC)
    unpadded = f"{day.year}-{day.month}-{day.day}"  # 2026-5-1; 2026-11-15 is plain
    return draw(st.sampled_from([
        text.replace("-", ""),  # 20260501: pydantic read it as a unix timestamp
        int(text.replace("-", "")),
        int(midnight.timestamp()),  # 1777593600: 2026-05-01
        str(int(midnight.timestamp())),
        float(midnight.timestamp()),
        unpadded if unpadded != text else f"{day.year}-{day.month}-{day.day}\n",
        text.translate(FULL_WIDTH), text.translate(ARABIC_INDIC),
        f" {text}", f"{text} ", f"{text}\n",
        f"{text}T00:00:00", f"{text}T00:00:00Z", f"{text} 00:00:00",
        f"{day.isocalendar().year}-W{day.isocalendar().week:02d}-{day.isocalendar().weekday}",
        text.replace("-", "/"), True,
    ]))


@given(lenient_days())
def test_a_leniently_written_day_is_refused(value: object) -> None:
    refused(DAY, value, "plain_day")
    refused(ANY_DAY, value, "plain_day")
    refused(TEXT, value, "plain_day")
    if isinstance(value, str):
        with pytest.raises(argparse.ArgumentTypeError):
            cli_day(value)


@st.composite
def lenient_moments(draw: st.DrawFn) -> object:
    moment = draw(moments)
    text = moment.isoformat()
    return draw(st.sampled_from([
        text.replace("T", " "), text.replace("T", "t"),
        moment.replace(tzinfo=None).isoformat(),  # no time zone
        moment.date().isoformat(),  # a day is not a moment
        int(moment.timestamp()), str(int(moment.timestamp())), moment.timestamp(),
        text.translate(FULL_WIDTH), f" {text}", f"{text} ",
        text[:10].replace("-", "") + text[10:],  # 20260501T...
        text.replace(":", ""), text[:-3] + text[-2:],  # +0800
        text[:-6] + " " + text[-6:],  # a blank before the zone
        text[:-6] + "+08",
    ]))


@given(lenient_moments())
def test_a_leniently_written_moment_is_refused(value: object) -> None:
    refused(MOMENT, value, "plain_moment")
    refused(QUERY_MOMENT, value, "plain_moment")


@pytest.mark.parametrize("text", ["20260501", "1777593600", "2026-5-1", "２０２６-05-01",
                                  "2026-05-01 10:00:00+08:00", "2026-05-01T10:00:00",
                                  "2026-W18-5", " 2026-05-01", "2026-02-30"])
def test_as_of_takes_the_same_grammar(text: str) -> None:
    with pytest.raises(InvalidInput):
        as_of_moment(text, "Asia/Shanghai", NOW)
    with pytest.raises(ValueError, match="Must be"):
        day_or_moment_text(text)


def test_refusals_never_quote_the_value() -> None:
    for adapter, kind in ((DAY, "plain_day"), (MOMENT, "plain_moment")):
        with pytest.raises(ValidationError) as caught:
            adapter.validate_python("9" * 5000)
        error = caught.value.errors(include_input=False)[0]
        assert error["type"] == kind
        assert "999" not in error["msg"]
