"""A payer named by typing (an insurer, the OEM as the vehicle's brand, a department): names
that differ only in case, full-width letters and spacing are one payer; names that differ in a
letter are two."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.insurer import insurer_key
from domain.payer_name import payer_name, payer_name_key

LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789"
WORD = st.text(alphabet=LETTERS + "大众奥迪平安", min_size=1, max_size=8)
NAME = st.lists(WORD, min_size=1, max_size=4).map(" ".join)
SPACES = st.text(alphabet=" \t\u3000\u00a0", min_size=1, max_size=3)


def _full_width(char: str) -> str:
    """The character as a Chinese input method types it: ASCII letters and digits full-width."""
    return chr(ord(char) + 0xFEE0) if char.isascii() and char.isalnum() else char


@st.composite
def typed_forms(draw: st.DrawFn, name: str) -> str:
    """`name` as someone might type it: each letter in either case, perhaps full-width, each
    space a run of spaces (ideographic, no-break, tabs), stray spaces at either end."""
    out = [draw(SPACES) if draw(st.booleans()) else ""]
    for char in name:
        if char == " ":
            out.append(draw(SPACES))
            continue
        if draw(st.booleans()):
            char = char.upper()
        out.append(_full_width(char) if draw(st.booleans()) else char)
    out.append(draw(SPACES) if draw(st.booleans()) else "")
    return "".join(out)


@given(st.data(), NAME)
def test_names_differing_in_case_width_and_spacing_are_one_payer(data: st.DataObject,
                                                                 name: str) -> None:
    first, second = data.draw(typed_forms(name)), data.draw(typed_forms(name))
    assert payer_name_key(first) == payer_name_key(second) == name
    # Kept without the width and the stray spaces; the case as typed.
    assert payer_name(first).casefold() == name
    # An insurer's key is the payer's.
    assert insurer_key(first) == payer_name_key(first)


@given(st.data(), NAME)
def test_names_differing_in_a_letter_are_two_payers(data: st.DataObject, name: str) -> None:
    at = data.draw(st.sampled_from([i for i, c in enumerate(name) if c != " "]))
    other = data.draw(st.sampled_from(LETTERS).filter(lambda c: c != name[at]))
    changed = name[:at] + other + name[at + 1:]
    assert payer_name_key(data.draw(typed_forms(name))) != payer_name_key(
        data.draw(typed_forms(changed)))
