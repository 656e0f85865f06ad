"""An insurer's typed name: kept without stray spaces or full-width letters, grouped with case
folded, so one insurer is one payer (names kept as typed before are keyed the same)."""

from __future__ import annotations

from domain.insurer import insurer_key, insurer_name
from projections.finance_batch import _payer_key


def test_the_typed_forms_of_one_name_are_one_insurer() -> None:
    typed = ("Ping An", "ping an ", "PING  AN", "ＰＩＮＧ　ＡＮ", "\tPing\u00a0An")
    assert {insurer_key(name) for name in typed} == {"ping an"}
    assert [insurer_name(name) for name in typed] == [
        "Ping An", "ping an", "PING AN", "PING AN", "Ping An"]
    assert insurer_key("中国平安 ") == insurer_key("中国平安") != insurer_key("中国人保")
    assert insurer_key("Ping An") != insurer_key("PingAn Life")


def test_a_bill_kept_with_the_name_as_typed_is_owed_by_the_same_payer() -> None:
    keys = {_payer_key("insurance", {"insurer": name, "claim_number": "C1"})
            for name in ("Ping An", " ＰＩＮＧ　ＡＮ", "PING  AN")}
    assert keys == {"ping an"}
    # The OEM (the vehicle's brand) and a department are keyed by their names the same way.
    assert {_payer_key("warranty", {"oem": name, "vin": "V"})
            for name in ("Volkswagen", "volkswagen ", "ＶＯＬＫＳＷＡＧＥＮ")} == {"volkswagen"}
    assert _payer_key("internal", {"department": " Sales  Dept"}) == "sales dept"
    assert _payer_key("customer", {"customer_id": "0c6f0e4a-5d1e-4b9e-9a49-0f7a1c2d3e4f"}) == \
        "0c6f0e4a-5d1e-4b9e-9a49-0f7a1c2d3e4f"
