"""The fuzz harness itself: mutants are reproducible and damaged, the plan covers every
(seed, mutation) pair, and the sandbox tells a refusal from an unexpected exception, a hang
and a crash without waiting on them."""

from __future__ import annotations

from collections import Counter

import pytest
from mutate import FILE_KINDS, RECIPE_KINDS, mutant_bytes, mutant_recipe
from sandbox import MutantRunner, Sandbox
from seeds import EXAMPLE, FAMILIES, RECIPES, Mutant, absolute_recipe, family, find_mutant, plan

SEED = (EXAMPLE / "nvp_operando" / "cycler.csv").read_bytes()


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_file_mutants_are_reproducible_and_damaged(kind):
    mutants = [mutant_bytes(SEED, "cycler-csv/cycler.csv", kind, i) for i in range(5)]
    assert mutants == [mutant_bytes(SEED, "cycler-csv/cycler.csv", kind, i) for i in range(5)]
    assert all(m != SEED for m in mutants)
    assert len(set(mutants)) > (1 if kind != "empty" else 0)


def test_numeric_mutations_write_huge_numbers_and_text_into_number_fields():
    huge = mutant_bytes(b"time 1.5 volt 3.25 current -0.1\n", "k", "huge_number", 0)
    wrong = mutant_bytes(b"time 1.5 volt 3.25 current -0.1\n", "k", "wrong_type", 0)
    assert huge.startswith(b"time ") and huge != b"time 1.5 volt 3.25 current -0.1\n"
    assert wrong.startswith(b"time ") and wrong != b"time 1.5 volt 3.25 current -0.1\n"


@pytest.mark.parametrize("kind", RECIPE_KINDS)
def test_recipe_mutants_are_reproducible_and_damaged(kind):
    text = absolute_recipe(RECIPES / "nvp_operando.yaml")
    mutants = [mutant_recipe(text, "recipes/nvp_operando.yaml", kind, i) for i in range(4)]
    assert mutants == [mutant_recipe(text, "recipes/nvp_operando.yaml", kind, i) for i in range(4)]
    assert all(m != text.encode() for m in mutants)


def test_recipe_paths_are_made_absolute():
    text = absolute_recipe(RECIPES / "nvp_full.yaml")
    assert "../" not in "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
    assert f"library: {RECIPES / 'xps' / 'v2p_o1s.yaml'}" in text


def test_plan_covers_every_seed_and_kind_before_repeating():
    fam = family("xps-vamas")
    seeds = fam.seeds()
    first = plan(fam, len(seeds) * len(FILE_KINDS), seeds)
    assert Counter((m.seed.name, m.kind) for m in first).most_common(1)[0][1] == 1
    assert {m.index for m in first} == {0}
    assert plan(fam, 40, seeds) == plan(fam, 400, seeds)[:40]
    assert find_mutant(first[3].id) == first[3]


def test_every_family_names_known_readers():
    assert {f.name for f in FAMILIES} >= {"frames-cbf", "poni", "cycler-csv", "xas-xdi",
                                          "xps-vamas", "patterns", "recipes"}
    for fam in FAMILIES:
        for seed in fam.seeds():
            assert seed.target in {"frames", "poni", "scan", "xps", "cycler", "pattern", "recipe"}


def test_sandbox_reports_refusals_exceptions_hangs_and_crashes():
    with Sandbox(timeout_s=1.0, grace_s=5.0) as box:
        got = {t: box.call(t, "x") for t in ("selftest-ok", "selftest-refuse", "selftest-raise",
                                              "selftest-hang", "selftest-crash", "selftest-ok")}
    assert got["selftest-refuse"].status == "refused"
    assert got["selftest-raise"].status == "unexpected"
    assert got["selftest-raise"].detail.startswith("IndexError")
    assert got["selftest-hang"].status == "hang" and got["selftest-hang"].seconds < 3
    assert got["selftest-crash"].status == "crash" and "SIGSEGV" in got["selftest-crash"].detail
    assert got["selftest-ok"].status == "ok"  # a new worker took over after the crash


def test_good_seeds_read_through_the_runner(tmp_path):
    with Sandbox() as box:
        runner = MutantRunner(box, tmp_path)
        for name in ("frames-cbf", "poni", "cycler-csv", "xas-xdi", "xps-vamas", "patterns"):
            seed = family(name).seeds()[0]
            outcome = runner.run(Mutant(seed, "none", 0))
            assert outcome.status == "ok", f"{seed.key}: {outcome.describe()}"
