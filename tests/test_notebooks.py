"""The notebooks in notebooks/ run from top to bottom and are stored without outputs.

The code cells are joined into one script and run with this interpreter in a subprocess whose
working directory is notebooks/, as in Jupyter (no jupyter or nbclient needed). IPython
magics and shell escapes (lines starting with ``%`` or ``!``) are left out.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, needs_shared

NOTEBOOKS = ROOT / "notebooks"
XANES = NOTEBOOKS / "ex_situ_xanes.ipynb"
XPS = NOTEBOOKS / "ex_situ_xps.ipynb"
ALL = sorted(NOTEBOOKS.glob("*.ipynb"))


def _code_cells(path: Path) -> list[dict]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _source(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def notebook_script(path: Path) -> str:
    """The code cells in order, one script, without magics and shell escapes."""
    parts = []
    for i, cell in enumerate(_code_cells(path)):
        lines = [ln for ln in _source(cell).splitlines() if not ln.lstrip().startswith(("%", "!"))]
        parts.append(f"# ---- cell {i}\n" + "\n".join(lines))
    return "\n\n".join(parts) + "\n"


def run_notebook(path: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    script = tmp_path / f"{path.stem}.py"
    script.write_text(notebook_script(path), encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if k != "XPIPE_NOTEBOOK_DATA"}
    environ.update(MPLBACKEND="Agg", TMPDIR=str(tmp_path), **env)  # the notebooks' output folders land here
    proc = subprocess.run([sys.executable, str(script)], cwd=path.parent, env=environ,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{path.name} failed (exit {proc.returncode}):\n{proc.stderr[-6000:]}"
    return proc


def test_notebooks_found():
    assert XANES in ALL
    assert XPS in ALL


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_stored_without_outputs(path):
    for i, cell in enumerate(_code_cells(path)):
        assert cell.get("outputs") == [], f"{path.name}: code cell {i} holds outputs; clear them before saving"
        assert cell.get("execution_count") is None, f"{path.name}: code cell {i} has an execution count"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_results_read_through_the_api_only(path):
    """A notebook reads results with ``xpipe.open_results``, never through raw HDF5 paths."""
    text = path.read_text(encoding="utf-8")
    for banned in ("h5py", "/entry"):
        assert banned not in text, f"{path.name} mentions {banned!r}; read results with xpipe.open_results"
    if "xpipe.run(" in text:
        assert "open_results(" in text, f"{path.name} runs a recipe but does not open its results"


def _number(out: str, pattern: str) -> float:
    m = re.search(pattern, out)
    assert m, f"no match for {pattern!r} in the notebook's output:\n{out}"
    return float(m.group(1))


def _check_xanes_output(out: str, data: str):
    assert data in out
    assert re.search(r"half_height +rises monotonically with valence: True", out), out
    assert abs(_number(out, r"LCF valence ([0-9.]+)") - 3.6) < 0.03
    assert _number(out, r"V2O3/VO2 series: (\d+) components") == 2
    assert _number(out, r"V2O5 growing in at the end: (\d+) components") == 3
    assert "failed: none" in out
    _check_calibration_report(out)


def _check_calibration_report(out: str):
    """The batch run's valence check, read through the Results API (same example series in both modes)."""
    assert "reported: lcf; calibration curve: piecewise_linear of edge_half_height" in out
    for method in ("edge_half_height", "edge_derivative", "pre_edge_centroid", "pre_edge_area", "lcf"):
        assert re.search(rf"^ *{method} +True", out, re.M), f"no leave-one-out row for {method}:\n{out}"
    # VO2, the one oxide between two others, predicted from V2O3 and V2O5 by the half-height edge
    assert abs(_number(out, r"edge_half_height +V2O3 [-+0-9.]+\*, VO2 ([-+0-9.]+),") - 0.69) < 0.05
    assert "LCF needs at least two other references" in out
    assert "status of every value: {'methods_disagree': 6}" in out
    assert _number(out, r"largest error against the true valence: .*lcf ([0-9.]+)") < 0.05
    assert _number(out, r"PCA of the series: (\d+) components") == 2


def test_ex_situ_xanes_example_data(tmp_path):
    proc = run_notebook(XANES, tmp_path, XPIPE_NOTEBOOK_DATA="example")
    _check_xanes_output(proc.stdout, "simulated example standards")
    assert re.search(r"derivative +rises monotonically with valence: True", proc.stdout)


@needs_shared
def test_ex_situ_xanes_measured_standards(tmp_path):
    proc = run_notebook(XANES, tmp_path, XPIPE_NOTEBOOK_DATA="real")
    _check_xanes_output(proc.stdout, "measured standards")
    assert proc.stdout.count("Larch E0 on the pre-edge peak") == 2  # VO2 and V2O5
    assert abs(_number(proc.stdout, r"V2O3 from a line through VO and VO2: ([0-9.]+)") - 3.0) < 0.25
    # leave-one-out of the half-height edge on the measured oxides (docs/xas_valence.md): V2O3 from VO and VO2
    assert abs(_number(proc.stdout, r"piecewise_linear +[-+0-9.]+\* +([-+0-9.]+) ") - 0.13) < 0.05
    assert abs(_number(proc.stdout, r"pchip +[-+0-9.]+\* +([-+0-9.]+) ") + 0.40) < 0.05


def _check_xps_output(out: str, data: str):
    assert f"data: {data}" in out
    shift, true_shift = (_number(out, p) for p in (r"-> shift ([-+0-9.]+) \+-", r"\(true ([-+0-9.]+) eV\)"))
    assert abs(shift - true_shift) < 0.15
    assert "XPS fit 510.00-538.00 eV, background shirley" in out
    assert 3.0 <= _number(out, r"mean V valence ([0-9.]+) \+-") <= 4.0
    assert re.search(r"unresolved: 'O lattice' and 'O hydroxyl/adsorbed'", out), out
    assert "x axis: decreasing to the right" in out
    assert "failed: none" in out
    _check_lf(out)
    rows = re.findall(r"nvp_xps_\d +[-+0-9.]+ +[-+0-9.]+ +([0-9.]+) \+- [0-9.]+ +([0-9.]+)", out)
    assert len(rows) == 5, out
    valence = [float(v) for v, _ in rows]
    assert valence[-1] > valence[0] + 0.5  # oxidised on charge


def _check_lf(out: str):
    """The synthetic Pt 4f doublet fitted with LF gives back the parameters it was drawn with."""
    for name, true in (("fwhm", 0.55), ("alpha", 1.1), ("beta", 2.0), ("gauss_fwhm", 0.45)):
        m = re.search(rf"LF {name} +([0-9.]+) \+- ([0-9.]+)", out)
        assert m, f"no fitted LF {name} in:\n{out}"
        assert abs(float(m.group(1)) - true) < 3 * float(m.group(2)) + 1e-3, m.group(0)
    assert "LF damping_fwhm 5.000 (held)" in out
    fitted, true = (_number(out, p) for p in (r"FWHM of the 4f7/2 line ([0-9.]+) eV", r"4f7/2 line [0-9.]+ eV \(true ([0-9.]+)"))
    assert abs(fitted - true) < 0.01


def test_ex_situ_xps_example_data(tmp_path):
    proc = run_notebook(XPS, tmp_path, XPIPE_NOTEBOOK_DATA="example")
    _check_xps_output(proc.stdout, "simulated example electrodes")
    assert "Au 4f: measured data not used" in proc.stdout


@needs_shared
def test_ex_situ_xps_measured_references(tmp_path):
    proc = run_notebook(XPS, tmp_path, XPIPE_NOTEBOOK_DATA="real")
    _check_xps_output(proc.stdout, "simulated example electrodes + measured references")
    assert _number(proc.stdout, r"measured VAMAS: (\d+) blocks") >= 4
    assert abs(_number(proc.stdout, r"Au 4f splitting ([0-9.]+) \+-") - 3.67) < 0.03
    assert 0.65 < _number(proc.stdout, r"area ratio ([0-9.]+) \+-") < 0.85
