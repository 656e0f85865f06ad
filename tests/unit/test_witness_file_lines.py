"""A witness file whose lines were changed by hand: `audit verify` and `GET /audit/chain/verify`
name the line that is not an anchor (the command exits 2, the route answers 503), and the next
anchor is still appended; neither may stop on an exception of its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from projections import chain_witness

HEAD = "7:" + "ab" * 32
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("written", ['{"anchor": 7}', '{"anchor": null}', '{"anchor": ["7:aa"]}',
                                     DEEP])
def test_a_line_whose_anchor_is_no_text_is_not_an_anchor(tmp_path: Path, written: str) -> None:
    """Found by the reliability review: an anchor that was a number, null or a list raised
    AttributeError, and a line nested past the JSON parser's depth RecursionError, where a
    line that is not an anchor is a ValueError naming it: a 500 from the route, a traceback
    from the command."""
    path = tmp_path / "chain-anchors.jsonl"
    path.write_text(chain_witness.line({"anchor": HEAD}) + written + "\n")
    with pytest.raises(ValueError, match=r"line 2: not an anchor"):
        chain_witness.read_checked(path)


@pytest.mark.parametrize("written", [f'{{"anchor": "{HEAD}", "line": 1e400}}', DEEP])
def test_the_next_anchor_is_appended_after_a_last_line_changed_by_hand(tmp_path: Path,
                                                                       written: str) -> None:
    """The next line's number is read from the last line: a number past every float (1e400,
    read as infinity) raised OverflowError and a nested line RecursionError, so every later
    anchor — each day-end close's — failed to be witnessed with an error the caller does not
    expect. Such a line is counted, as one that is not whole is."""
    path = tmp_path / "chain-anchors.jsonl"
    path.write_text(chain_witness.line({"anchor": HEAD}) + written + "\n")
    chain_witness.append(path, {"anchor": "8:" + "cd" * 32, "notification_id": 8})
    last = json.loads(path.read_text().splitlines()[-1])
    assert last["anchor"] == "8:" + "cd" * 32 and last["line"] == 3


def test_a_line_of_megabytes_is_not_an_anchor_and_is_not_held_whole(tmp_path: Path) -> None:
    """A file mangled into one endless line (30 MB without a line break after an anchor) was
    read whole as one line by `audit verify` and `GET /audit/chain/verify` to find it was no
    anchor; a line is now read at most MAX_LINE_BYTES at a time."""
    import tracemalloc

    path = tmp_path / "chain-anchors.jsonl"
    with path.open("w") as f:
        f.write(chain_witness.line({"anchor": HEAD}))
        for _ in range(30):
            f.write("x" * 1_000_000)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"line 2: not an anchor \(longer than 65,536"):
            chain_witness.read_checked(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * chain_witness.MAX_LINE_BYTES  # a few blocks, not the 30 MB
    # A line of exactly the limit is read as any other (here: no anchor, named as such).
    path.write_text(chain_witness.line({"anchor": HEAD})
                    + "y" * (chain_witness.MAX_LINE_BYTES - 1) + "\n")
    with pytest.raises(ValueError, match=r"line 2: not an anchor \(Expecting value"):
        chain_witness.read_checked(path)
