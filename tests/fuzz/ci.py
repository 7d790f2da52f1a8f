"""What the test suite's short fuzz run takes: mutants per family, the time limit, the params.

Examples
--------
>>> from seeds import family
>>> [p.id for p in cases([family("poni")], {})][:1]
['poni:geometry.poni:zeros:0']
"""

from __future__ import annotations

import pytest
from seeds import Family, plan

#: Mutants per seed family in the test suite (the first ones of the long run).
CI_MUTANTS = 30
#: The per-call time limit (seconds) after which a call counts as a hang.
TIMEOUT_S = 10.0


def cases(families: list[Family], known: dict[str, str]) -> list:
    """One pytest param per planned mutant, marked xfail(strict=True) where ``known`` lists its
    id; a single skipped param for a family whose data is absent."""
    out = []
    for fam in families:
        seeds = fam.seeds()
        if not seeds:
            out.append(pytest.param(None, id=fam.name, marks=pytest.mark.skip(reason=fam.absent)))
            continue
        for m in plan(fam, CI_MUTANTS, seeds):
            marks = [pytest.mark.xfail(strict=True, reason=known[m.id])] if m.id in known else []
            out.append(pytest.param(m, id=m.id, marks=marks))
    return out
