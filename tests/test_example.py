"""The README's main job on the bundled example data, checked against its ground truth."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import ROOT

from xpipe.results import open_results

TRUTH = json.loads((ROOT / "example_data" / "nvp_operando" / "truth.json").read_text())


def _tth(d_a: float) -> float:
    return float(np.rad2deg(2 * np.arcsin(TRUTH["wavelength_a"] / (2 * d_a))))


def _d_hex(h, k, l, a, c):  # noqa: E741 - Miller index
    return 1 / np.sqrt(4 / 3 * (h * h + h * k + k * k) / a**2 + l * l / c**2)


def _centroid(x, y, centre, half_width=0.12):
    w = (x > centre - half_width) & (x < centre + half_width)
    xs, ys = x[w], y[w] - np.min(y[w])
    top = ys > 0.5 * ys.max()
    return float(np.sum(xs[top] * ys[top]) / np.sum(ys[top])), float(ys.max())


@pytest.fixture(scope="module")
def stack(example_run):
    with open_results(example_run / "results.h5") as r:
        assert r.failed() == []
        return r.patterns()


def test_every_frame_with_its_time(stack):
    frames = TRUTH["frames"]
    assert stack.n_frames == len(frames) == 38
    np.testing.assert_allclose(stack.frame_time_s, [f["mid_time_s"] for f in frames], atol=1e-6)
    assert stack.start_time == "2025-03-14T09:00:00"
    assert stack.wavelength_a == pytest.approx(TRUTH["wavelength_a"])


def test_reflections_land_at_their_bragg_angles(stack):
    """Frame 1: strong Na3V2(PO4)3 lines within 0.01 deg of 2theta from the true cell."""
    for refl in TRUTH["reflections_frame1"]["Na3V2(PO4)3"][:4]:
        found, _ = _centroid(stack.radial, stack.intensity[0], refl["two_theta_deg"])
        assert found == pytest.approx(refl["two_theta_deg"], abs=0.01), refl["hkl"]


def test_two_phase_region_shows_the_desodiated_cell(stack):
    """NaV2(PO4)3 (113) grows where the truth says that phase dominates, and is absent at start."""
    frames = TRUTH["frames"]
    j = int(np.argmax([f["phases"]["NaV2(PO4)3"]["weight_fraction"] for f in frames]))
    cell = frames[j]["phases"]["NaV2(PO4)3"]
    tth_113 = _tth(_d_hex(1, 1, 3, cell["a_a"], cell["c_a"]))
    pos, height = _centroid(stack.radial, stack.intensity[j], tth_113)
    assert pos == pytest.approx(tth_113, abs=0.01)
    _, height_start = _centroid(stack.radial, stack.intensity[0], tth_113, half_width=0.05)
    assert height > 5 * height_start
