"""Fuzz the readers: every damaged copy of a good input file is read into valid data or refused
with the family's read error (FrameReadError, PatternReadError, CyclerReadError, XasReadError,
XpsReadError; ValueError for the PONI header, as read_poni_header documents), never another
exception, a crash or a hang.

The short version runs here: the first ``ci.CI_MUTANTS`` mutants of each seed family, from a fixed
seed, each in a worker process with a 10 s limit. The long version is ``tests/fuzz/run.py``.
Families from ../shared/data skip when it is absent. Cases found failing and not yet fixed are
listed in ``KNOWN``, marked xfail(strict=True): each one turns the suite red once it is fixed,
so that its entry is removed.
"""

from __future__ import annotations

import pytest
from ci import TIMEOUT_S, cases
from sandbox import PASSING, MutantRunner, Sandbox
from seeds import FAMILIES

#: mutant id -> what goes wrong (exception, where); fixed cases must be removed from here.
KNOWN: dict[str, str] = {}


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    with Sandbox(timeout_s=TIMEOUT_S) as box:
        yield MutantRunner(box, tmp_path_factory.mktemp("fuzz-readers"))


@pytest.mark.parametrize("mutant", cases([f for f in FAMILIES if f.name != "recipes"], KNOWN))
def test_mutant_is_read_or_refused(mutant, runner):
    outcome = runner.run(mutant)
    assert outcome.status in PASSING, f"{mutant.id}: {outcome.describe()}"
