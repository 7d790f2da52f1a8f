"""Athena projects group by group: each group addressable by label or index in the API and in
recipes; a project of several groups without a selection is refused (validate and run) with
the list of its groups, never merged."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED, needs_shared, write_recipe

import xpipe
from xpipe.recipe.schema import RecipeInvalid
from xpipe.xas.readers import write_athena
from xpipe.xas.scan import XasReadError

FE_STD = SHARED / "xas" / "standards" / "Fe"


def _project(folder, labels=("FeO", "Fe2O3")):
    e = np.linspace(6950.0, 7450.0, 501)
    groups = [(name, e, 0.5 + np.arctan((e - 7120.0 - 3 * i) / 2.0) / np.pi, {"element": "Fe", "edge": "K"})
              for i, name in enumerate(labels)]
    return write_athena(folder / "fe.prj", groups)


def test_read_scan_picks_a_group_by_label_or_index(tmp_path):
    path = _project(tmp_path)
    assert [s.label for s in xpipe.read_scan(path)] == ["FeO", "Fe2O3"]
    assert [s.label for s in xpipe.read_scan(path, group="Fe2O3")] == ["Fe2O3"]
    assert [s.label for s in xpipe.read_scan(path, group=0)] == ["FeO"]
    with pytest.raises(XasReadError, match=r"no group labelled 'hematite'.*0: 'FeO', 1: 'Fe2O3'"):
        xpipe.read_scan(path, group="hematite")
    with pytest.raises(XasReadError, match="no group at index 5"):
        xpipe.read_scan(path, group=5)


def test_group_on_a_file_without_groups_is_refused(tmp_path):
    path = tmp_path / "scan.txt"
    e = np.linspace(7000.0, 7300.0, 50)
    path.write_text("# XDI/1.0\n# Column.1: energy eV\n# Column.2: mutrans\n#----\n"
                    + "\n".join(f"{a:.2f} {b:.4f}" for a, b in zip(e, np.arctan(e - 7112.0))) + "\n")
    with pytest.raises(XasReadError, match="selects a group of an Athena project"):
        xpipe.read_scan(path, group=0)


def _recipe(tmp_path, spectrum):
    _project(tmp_path)
    return write_recipe(tmp_path, f"""version: 1
name: groups
output: out
xas:
  - name: Fe_K
    element: Fe
    spectra:
      - {spectrum}
""")


def test_multi_group_project_without_a_selection_is_refused_at_validation(tmp_path):
    with pytest.raises(RecipeInvalid) as err:
        xpipe.load_recipe(_recipe(tmp_path, "{files: fe.prj}"))
    text = str(err.value)
    assert "xas[0].spectra[0].files" in text and "0: 'FeO', 1: 'Fe2O3'" in text and "group" in text


def test_a_missing_group_is_refused_at_validation(tmp_path):
    with pytest.raises(RecipeInvalid, match="no group labelled 'FeS'"):
        xpipe.load_recipe(_recipe(tmp_path, "{files: fe.prj, group: FeS}"))


def test_the_selected_group_is_run_alone(tmp_path):
    loaded = xpipe.load_recipe(_recipe(tmp_path, "{files: fe.prj, group: Fe2O3, label: hematite}"))
    report = xpipe.run(loaded, tmp_path / "out")
    assert report.exit_code == 0, report.failed
    spectra = xpipe.open_results(report.results).xas["Fe_K"].spectra
    e0 = np.asarray(spectra["e0_ev"]).ravel()
    assert e0.size == 1 and e0[0] == pytest.approx(7123.0, abs=0.5)  # the second group's edge alone


def test_a_single_group_project_needs_no_selection(tmp_path):
    _project(tmp_path, labels=("FeO",))
    path = write_recipe(tmp_path, """version: 1
name: one
output: out
xas:
  - name: Fe_K
    element: Fe
    files: fe.prj
""")
    assert xpipe.load_recipe(path).recipe.xas[0].files == "fe.prj"


@needs_shared
def test_real_project_groups_read_one_by_one():
    path = SHARED / "xas" / "larch_examples" / "cu.prj"
    labels = [s.label for s in xpipe.read_scan(path)]
    assert len(labels) == 3
    for i, label in enumerate(labels):
        (by_index,) = xpipe.read_scan(path, group=i)
        (by_label,) = xpipe.read_scan(path, group=label)
        assert by_index.label == by_label.label == label
        np.testing.assert_array_equal(by_index.mu, by_label.mu)
