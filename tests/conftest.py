"""Shared fixtures: paths to the real data beside the repository, and a small frame set."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

# integration engines kept between runs go to a folder of this test session, not the user's
# cache (set at import, before any test or doctest runs; removed when the session ends)
if "XPIPE_ENGINE_CACHE" not in os.environ:
    _ENGINES = tempfile.mkdtemp(prefix="xpipe-test-engines-")
    os.environ["XPIPE_ENGINE_CACHE"] = _ENGINES
    atexit.register(shutil.rmtree, _ENGINES, ignore_errors=True)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(),
    reason="../shared/data is not present (real measured data is not shipped with the repository)",
)

CORPUS = SHARED / "corpus"
needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(),
    reason="../shared/data/corpus is not present (real files from public test suites are not shipped)",
)

#: outcomes a corpus file may have; the last two fail the test that records them
CORPUS_OUTCOMES = ("identical", "refused", "differs", "error")
_CORPUS_ROWS: list[tuple[str, str, str, str, str]] = []


@pytest.fixture
def corpus_row():
    """Record one corpus file's outcome for the table printed at the end of the run.

    Call ``corpus_row(family, path, outcome, reference, detail)``: ``outcome`` is one of
    :data:`CORPUS_OUTCOMES`, ``reference`` names the reader compared against (``"larch"``,
    ``"yadg"``...), ``detail`` says what was compared or why the file was refused.
    """

    def add(family: str, path, outcome: str, reference: str, detail: str = "") -> None:
        assert outcome in CORPUS_OUTCOMES, outcome
        rel = Path(path).relative_to(CORPUS) if Path(path).is_relative_to(CORPUS) else Path(path)
        _CORPUS_ROWS.append((family, str(rel), outcome, reference, " ".join(str(detail).split())))

    return add


def pytest_terminal_summary(terminalreporter):
    """The corpus table: per family, files read identically to the reference, refused, failed."""
    if not _CORPUS_ROWS:
        return
    tr = terminalreporter
    tr.section("reader corpus against reference readers")
    families = sorted({r[0] for r in _CORPUS_ROWS})
    tr.write_line(f"{'family':<14}{'files':>6}{'identical':>11}{'refused':>9}{'differs':>9}{'error':>7}  reference")
    for fam in families:
        rows = [r for r in _CORPUS_ROWS if r[0] == fam]
        n = {o: sum(r[2] == o for r in rows) for o in CORPUS_OUTCOMES}
        refs = ", ".join(sorted({r[3] for r in rows}))
        tr.write_line(f"{fam:<14}{len(rows):>6}{n['identical']:>11}{n['refused']:>9}{n['differs']:>9}"
                      f"{n['error']:>7}  {refs}")
    for fam, rel, outcome, _ref, detail in sorted(_CORPUS_ROWS):
        if outcome != "identical":
            tr.write_line(f"  {outcome:<8} {fam}: {rel}: {detail[:160]}")


WAVELENGTH_A = 0.7749
DETECTOR = "Pilatus100k"  # 195 x 487 pixels, 172 um


def make_ai():
    """A small, tilted geometry on a Pilatus 100K."""
    from xpipe.xrd.geometry import azimuthal_integrator

    return azimuthal_integrator(DETECTOR, 0.12, 0.005, 0.03, 0.02, -0.01, 0.0, WAVELENGTH_A)


def ring_frame(ai, peaks_deg, rng, scale=200.0, width_deg=0.08):
    """Poisson frame of Debye-Scherrer rings at ``peaks_deg`` (2theta) over a flat background."""
    tth = np.linspace(0, 40, 8000)
    prof = 5.0 + sum(np.exp(-0.5 * ((tth - p) / width_deg) ** 2) * 100 for p in peaks_deg)
    img = ai.calcfrom1d(tth, prof, dim1_unit="2th_deg", correctSolidAngle=True, polarization_factor=0.99)
    img = rng.poisson(np.clip(img, 0, None) * scale / 100).astype(np.int32)
    return img


@pytest.fixture(scope="session")
def frame_set(tmp_path_factory):
    """Eight CBF frames with a ring that shifts, a .poni, and header times 60 s apart."""
    import fabio

    folder = tmp_path_factory.mktemp("frames")
    ai = make_ai()
    ai.write(str(folder / "geometry.poni"))
    rng = np.random.default_rng(7)
    truth = []
    for i in range(8):
        peaks = [8.0 + 0.05 * i, 12.5, 15.0 - 0.03 * i]
        img = ring_frame(ai, peaks, rng)
        img[:, 200:205] = -1  # a dead column, as Pilatus writes it
        header = {
            "_array_data.header_contents": (
                "# Detector: PILATUS 100K (test)\r\n"
                f"# 2025-03-14T09:{i:02d}:00.000\r\n"
                "# Exposure_time 30.000000 s\r\n"
            )
        }
        fabio.cbfimage.CbfImage(data=img, header=header).write(str(folder / f"frame_{i + 1}.cbf"))
        truth.append(peaks)
    return folder, truth


@pytest.fixture(scope="session")
def example_run(tmp_path_factory):
    """Output folder of the README's main job: ``xpipe run recipes/nvp_operando.yaml``."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("demo")
    res = subprocess.run([sys.executable, "-m", "xpipe", "run", str(ROOT / "recipes" / "nvp_operando.yaml"),
                          "-o", str(out), "-q"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return out


@pytest.fixture(scope="session")
def nvp_full_results(tmp_path_factory) -> Path:
    """``results.h5`` of ``xpipe run recipes/nvp_full.yaml``: XRD, XAS, XPS, the cycler record and
    the timeline, run once for every test that only reads it."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("nvp_full_shared")
    res = subprocess.run([sys.executable, "-m", "xpipe", "run", str(ROOT / "recipes" / "nvp_full.yaml"),
                          "-o", str(out), "-q"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return out / "results.h5"


def write_recipe(folder: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path
