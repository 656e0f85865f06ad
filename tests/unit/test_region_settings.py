"""SERVICECORE_REGIONS (store id -> region) is checked at start: a store the group does not
have (SERVICECORE_STORES) or a region no `region=` could name stops the process, with the
store or the name in the message."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from servicecore.settings import Settings
from tests.unit.test_cli_token import _token


def test_regions_are_read_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICECORE_STORES", '["S01", "S02"]')
    monkeypatch.setenv("SERVICECORE_REGIONS", '{"S01": "华东", "S02": "华南"}')
    assert Settings().regions == {"S01": "华东", "S02": "华南"}


def test_a_region_of_a_store_the_group_does_not_have_is_refused() -> None:
    with pytest.raises(ValidationError, match="not in SERVICECORE_STORES: S09"):
        Settings(stores=["S01", "S02"], regions={"S01": "华东", "S09": "华南"})
    # without the group's stores configured there is nothing to check them against
    assert Settings(regions={"S09": "华南"}).regions == {"S09": "华南"}


@pytest.mark.parametrize("name", ["", "  ", " 华东", "区" * 61])
def test_a_region_no_filter_could_name_is_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="S01"):
        Settings(regions={"S01": name})


def test_a_command_started_with_a_region_of_an_unknown_store_stops_naming_it(
        tmp_path: Path) -> None:
    started = _token(tmp_path, SERVICECORE_STORES='["S01"]', SERVICECORE_JWT_SECRET="s" * 40,
                     SERVICECORE_REGIONS='{"S01": "华东", "S09": "华南"}')
    assert started.returncode == 2 and started.stdout == ""
    assert ("SERVICECORE_REGIONS: Value error, names stores that are not in "
            "SERVICECORE_STORES: S09") in started.stderr
