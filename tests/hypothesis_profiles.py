"""The hypothesis profiles of the test suite, loaded by tests/conftest.py.

No profile reads or writes an example database, so a `.hypothesis/` folder left in a clone
changes nothing: a run depends only on the code and the profile.

- "dev" (the default): new random examples every run; a failure is shrunk (up to hypothesis'
  own limit of 5 minutes) and printed with the blob that reproduces it.
- "ci" (when the CI variable is set): the same examples on every run (derandomized) and a
  failure reported as found, without shrinking, so a red run is fast and the next run is red
  in the same way.
- "ci-shrink": CI's examples, shrunk: to study a CI failure at a desk.

Choose another with `pytest --hypothesis-profile=NAME`.
"""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, Phase, settings

# No example may take longer (the slowest today, a 40-step state machine, take about 0.1 s).
EXAMPLE_DEADLINE = timedelta(seconds=5)

# hypothesis' own "default" as the parent: with CI set it has already loaded its "ci" profile
HYPOTHESIS_DEFAULT = settings.get_profile("default")
settings.register_profile("dev", HYPOTHESIS_DEFAULT, database=None, deadline=EXAMPLE_DEADLINE,
                          print_blob=True)
settings.register_profile("ci-shrink", HYPOTHESIS_DEFAULT, derandomize=True, database=None,
                          deadline=EXAMPLE_DEADLINE, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", settings.get_profile("ci-shrink"),
                          phases=(Phase.explicit, Phase.generate))
settings.load_profile("ci" if "CI" in os.environ else "dev")
