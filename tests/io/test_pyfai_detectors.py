"""The table of pyFAI detector models kept without pyFAI, and the PONI check that uses it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from xpipe.io.geometry import poni_from_text, read_poni_header
from xpipe.io.pyfai_detectors import DETECTORS

pyFAI = pytest.importorskip("pyFAI")


def test_table_matches_installed_pyfai():
    import pyFAI.detectors

    registry = pyFAI.detectors.Detector.registry
    for name, (rows, cols, pixel1_m, pixel2_m) in DETECTORS.items():
        if name not in registry:  # another pyFAI version: the check asks pyFAI for such names
            continue
        det = registry[name]()
        assert (rows, cols) == tuple(det.shape), name
        assert (pixel1_m, pixel2_m) == (det.pixel1, det.pixel2), name


def _poni(tmp_path, body: str):
    path = tmp_path / "cal.poni"
    path.write_text(textwrap.dedent(body))
    return path


@pytest.mark.parametrize("config", ['{"orientation": 3}', '{"pixel1": 0.000172, "pixel2": 0.000172, "orientation": 2}'])
def test_poni_text_agrees_with_pyfai(tmp_path, config):
    path = _poni(tmp_path, f"""\
        poni_version: 2.1
        Detector: Pilatus1M
        Detector_config: {config}
        Distance: 0.3
        Poni1: 0.09
        Poni2: 0.08
        Rot1: 0.01
        Rot2: -0.02
        Rot3: 0.0
        Wavelength: 7.3e-11
        """)
    text = poni_from_text(read_poni_header(path))
    ai = pyFAI.load(str(path))
    assert text is not None
    assert text.shape == tuple(ai.detector.shape)
    assert (text.pixel1_m, text.pixel2_m) == (ai.detector.pixel1, ai.detector.pixel2)
    assert text.distance_m == ai.dist and text.wavelength_m == ai.wavelength


@pytest.mark.parametrize("change", [
    {"Distance": "0"}, {"Distance": "-0.1"}, {"Distance": "nan"}, {"Poni1": "x"},
    {"Detector": "NoSuchDetector"}, {"Detector_config": '{"orientation": 7}'},
    {"Detector_config": '{"pixel1": 1e-4, "pixel2": 1e-4, "max_shape": [10, 10]}'},
    {"poni_version": "1"}, {"Wavelength": "-1e-10"},
])
def test_unusual_poni_goes_to_pyfai(tmp_path, change):
    lines = {"poni_version": "2.1", "Detector": "Pilatus1M", "Detector_config": '{"orientation": 3}',
             "Distance": "0.3", "Poni1": "0.09", "Poni2": "0.08", "Wavelength": "7.3e-11", **change}
    path = _poni(tmp_path, "".join(f"{k}: {v}\n" for k, v in lines.items()))
    assert poni_from_text(read_poni_header(path)) is None


def test_checking_an_xrd_recipe_imports_no_pyfai(tmp_path):
    _poni(tmp_path, """\
        poni_version: 2.1
        Detector: Pilatus1M
        Detector_config: {"pixel1": 0.000172, "pixel2": 0.000172, "orientation": 3}
        Distance: 0.3
        Poni1: 0.09
        Poni2: 0.08
        Wavelength: 7.3e-11
        """)
    (tmp_path / "f_0001.cbf").write_bytes(b"")
    (tmp_path / "recipe.yaml").write_text(textwrap.dedent("""\
        name: t
        xrd:
          frames:
            files: f_*.cbf
          integrate:
            poni: cal.poni
        """))
    code = ("import sys, xpipe; "
            f"xpipe.load_recipe({str(tmp_path / 'recipe.yaml')!r}); "
            "print(sorted(m for m in ('pyFAI', 'pandas', 'xarray', 'matplotlib', 'larch', 'lmfit', 'yadg') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pyFAI" not in out.stdout, out.stdout
