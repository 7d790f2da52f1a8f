"""Recipes that would exhaust the loader: nesting too deep, integers too long for Python, numbers
past any float, and aliases that expand to billions of values. Each is refused as an invalid
recipe, at its key or line, quickly, never with another exception or a hang."""

from __future__ import annotations

import multiprocessing
import resource
import time

import pytest
from conftest import write_recipe

from xpipe.recipe.model import load_recipe
from xpipe.recipe.schema import RecipeInvalid

GOOD = """\
name: test run
xrd:
  frames:
    files: "frame_*.cbf"
  integrate:
    poni: geometry.poni
    npt: 500
"""

#: "billion laughs": nine lists of nine lists ..., twelve levels deep, 9**12 strings expanded
BOMB = "x-anchors:\n" + '  b0: &b0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"  b{k}: &b{k} [{', '.join([f'*b{k - 1}'] * 9)}]\n" for k in range(1, 12))


def _load(path, conn) -> None:
    """In the child: load the recipe, send back its problems or what else happened."""
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    try:
        load_recipe(path)
        conn.send("loaded")
    except RecipeInvalid as exc:
        conn.send([p.format("recipe.yaml") for p in exc.problems])
    except BaseException as exc:  # noqa: BLE001 - the test reports what escaped
        conn.send(f"{type(exc).__name__}: {str(exc)[:300]}")


def _problems(folder, text: str, limit_s: float = 5.0) -> list[str]:
    """The problems load_recipe reports, from a forked process that must answer within ``limit_s``
    (a process, so that a load that hangs, or fills the memory, can be stopped)."""
    path = write_recipe(folder, text)
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_load, args=(path, child), daemon=True)
    start = time.monotonic()
    proc.start()
    answered = parent.poll(limit_s)
    elapsed = time.monotonic() - start
    if not answered:
        proc.kill()
    proc.join()
    assert answered, f"load_recipe gave no answer within {limit_s} s"
    result = parent.recv()
    assert isinstance(result, list), f"expected RecipeInvalid, got {result}"
    assert elapsed < limit_s
    return result


@pytest.mark.parametrize("value", ["[" * 5000 + "1" + "]" * 5000, "{a: " * 5000 + "1" + "}" * 5000])
def test_deep_nesting_is_refused_at_its_line(tmp_path, value):
    problems = _problems(tmp_path, GOOD.replace("npt: 500", f"npt: {value}"))
    assert problems == ["recipe.yaml:7: too large to read: nested more than 50 levels deep"]


def test_nesting_made_deep_by_aliases_is_refused(tmp_path):
    levels = "".join(f"  l{k}: &l{k} [[[[[[[[[[*l{k - 1}]]]]]]]]]]\n" for k in range(1, 8))
    problems = _problems(tmp_path, "x-anchors:\n  l0: &l0 [1]\n" + levels + GOOD)
    assert len(problems) == 1 and "nested more than 50 levels deep (aliases expanded)" in problems[0]


def test_an_integer_too_long_for_python_is_a_problem_at_its_key(tmp_path):
    problems = _problems(tmp_path, GOOD.replace("npt: 500", "npt: " + "9" * 5000))
    assert "recipe.yaml:7: xrd.integrate.npt: expected an integer in [16, 100000], found a 5000-digit integer" in problems
    problems = _problems(tmp_path, GOOD.replace("npt: 500", "npt: 500\n    polarization_factor: " + "9" * 5000))
    assert "recipe.yaml:8: xrd.integrate.polarization_factor: expected a number in [-1, 1], " \
           "found a 5000-digit integer" in problems


def test_an_integer_past_any_float_is_a_problem_at_its_key(tmp_path):
    text = GOOD.replace("npt: 500", "npt: 500\n    polarization_factor: -" + "9" * 400)
    problems = _problems(tmp_path, text)
    assert "recipe.yaml:8: xrd.integrate.polarization_factor: expected a finite number in [-1, 1], " \
           "found a 400-digit negative integer" in problems


def test_a_hexadecimal_integer_too_long_to_print_is_a_problem_at_its_key(tmp_path):
    problems = _problems(tmp_path, GOOD.replace("npt: 500", "npt: 0x" + "f" * 5000))
    assert "recipe.yaml:7: xrd.integrate.npt: expected an integer in [16, 100000], found a 6021-digit integer" in problems
    problems = _problems(tmp_path, "version: 0x" + "f" * 5000 + "\n" + GOOD)
    assert problems == ["recipe.yaml:1: version: the recipe is written for format version a 6021-digit integer, "
                        "but this xpipe reads versions 1 to 1: update xpipe"]


@pytest.mark.parametrize("where", ["apart", "npt", "version"])
def test_an_alias_bomb_is_refused_quickly(tmp_path, where):
    text = BOMB + GOOD
    if where != "apart":
        text = BOMB + (GOOD.replace("npt: 500", "npt: *b11") if where == "npt" else "version: *b11\n" + GOOD)
    problems = _problems(tmp_path, text, limit_s=2.0)
    assert problems == ["recipe.yaml:7: too large to read: the document expands to more than 100000 values "
                        "(aliases expanded); no recipe needs that many"]


def test_messages_quote_only_the_start_of_a_huge_value():
    from xpipe.recipe.shown import found
    from xpipe.recipe.versions import VersionError, migrate

    bomb: list = ["lol"] * 9
    for _ in range(20):  # 9**21 strings once expanded, 21 lists in memory
        bomb = [bomb] * 9
    start = time.monotonic()
    start_of_repr = ("[" * 21 + ", ".join(["'lol'"] * 9))[:57]
    assert found(bomb) == start_of_repr + "... (list)"
    with pytest.raises(VersionError, match=r"found \[\[\[\[.*\.\.\.$"):
        migrate({"name": "x", "version": bomb})
    assert time.monotonic() - start < 1.0
