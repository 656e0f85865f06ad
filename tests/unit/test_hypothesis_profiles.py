"""The hypothesis profiles (tests/hypothesis_profiles.py): a red CI run reports its example as
found and the same one every time, and no run reads or leaves an example database, so a
`.hypothesis/` folder in a clone cannot make a later run fail differently."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from hypothesis import settings

from tests.unit import test_capacity_machine as capacity
from tests.unit import test_settlement_machine as settlement
from tests.unit import test_stock_machine as stock
from tests.unit import test_work_order_machine as workshop

ROOT = Path(__file__).resolve().parents[2]
# fails from 1000 on: shrunk, the example is exactly 1000
PROPERTY = """
from hypothesis import given, strategies as st

@given(st.integers(0, 10**6))
def test_below_a_thousand(x):
    assert x < 1000
"""


def falsified(folder: Path, profile: str | None, ci: bool = False) -> int:
    """Run the property in `folder` under a profile (None: the one the suite picks, with or
    without the CI variable set); the example it was falsified with."""
    (folder / "test_property.py").write_text(PROPERTY)
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"PYTHONPATH": str(ROOT)}
    chosen = [f"--hypothesis-profile={profile}"] if profile else []
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
         "tests.hypothesis_profiles", *chosen, "test_property.py"],
        cwd=folder, env=env | {"CI": "true"} if ci else env, capture_output=True, text=True,
        timeout=120, check=False)
    assert run.returncode == 1, run.stdout + run.stderr
    # pytest prefixes the lines of the report with "E"
    # the failing call's argument, as hypothesis reports it or as pytest shows the local
    found = re.search(r"(?:Falsifying example|Failing test case): test_below_a_thousand\("
                      r"[\sE]*x=(\d+),", run.stdout) or re.search(
        r"^x = (\d+)$", run.stdout, re.MULTILINE)
    assert found is not None, run.stdout
    return int(found.group(1))


def test_no_profile_of_the_suite_uses_an_example_database() -> None:
    for name in ("dev", "ci", "ci-shrink"):
        assert settings.get_profile(name).database is None, name
    # the machines leave the database (and the deadline) to the profile
    for machine in (capacity.TestCapacity, settlement.TestSettlementMachine,
                    stock.TestStockMachine, workshop.TestWorkshopDay):
        assert machine.settings.database is None, machine
        assert machine.settings.deadline == settings.default.deadline is not None, machine


def test_with_ci_set_a_failure_is_the_same_every_run_and_not_shrunk(tmp_path: Path) -> None:
    first = falsified(tmp_path, None, ci=True)
    assert first != 1000  # reported as found
    assert falsified(tmp_path, "ci") == first
    # studying it at a desk: the same examples, shrunk
    assert falsified(tmp_path, "ci-shrink") == 1000


def test_an_example_database_in_the_clone_changes_nothing(tmp_path: Path) -> None:
    clean, clone = tmp_path / "clean", tmp_path / "clone"
    clean.mkdir()
    clone.mkdir()
    first = falsified(clean, "ci")
    # hypothesis' own default profile saves the shrunk failure under .hypothesis/ ...
    assert falsified(clone, "default") == 1000
    saved = clone / ".hypothesis" / "examples"
    before = sorted(p.relative_to(saved) for p in saved.rglob("*"))
    assert before
    # ... which neither profile of the suite reads back, nor adds to
    assert falsified(clone, "ci") == first
    assert falsified(clone, None) == 1000  # without CI: dev, which shrinks
    assert sorted(p.relative_to(saved) for p in saved.rglob("*")) == before
    assert not (clean / ".hypothesis" / "examples").exists()
