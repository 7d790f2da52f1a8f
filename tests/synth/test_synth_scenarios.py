"""Seeded scenario generator: determinism, coverage of the kinds, structures, physics."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest

from xpipe.synth import powder
from xpipe.synth.scenarios import (
    SCENARIO_KINDS,
    make_scenario,
    march_dollase,
    march_dollase_factors,
    render_patterns_1d,
    write_scenario,
)

SEEDS = range(60)

# space group number and crystal system (as the cell refinement names them) of every CIF
EXPECTED_STRUCTURES = {
    "Na3V2(PO4)3": (167, "hexagonal"),
    "NaV2(PO4)3": (167, "hexagonal"),
    "V2O3": (167, "hexagonal"),
    "LiFePO4": (62, "orthorhombic"),
    "FePO4": (62, "orthorhombic"),
    "LiMn2O4": (227, "cubic"),
    "lambda-MnO2": (227, "cubic"),
    "Co3O4": (227, "cubic"),
    "LiCoO2": (166, "hexagonal"),
    "LiNiO2": (166, "hexagonal"),
    "Li0.5NiO2": (12, "monoclinic"),
    "Li0.3NiO2": (166, "hexagonal"),
    "Li2MnO3": (12, "monoclinic"),
    "anatase-TiO2": (141, "tetragonal"),
    "rutile-TiO2": (136, "tetragonal"),
    "Al": (225, "cubic"),
    "Cu": (225, "cubic"),
    "NiO": (225, "cubic"),
    "LiF": (225, "cubic"),
    "Li2O": (225, "cubic"),
}


@pytest.fixture(scope="module")
def scenarios():
    return {seed: make_scenario(seed) for seed in SEEDS}


@pytest.mark.parametrize("name", sorted(EXPECTED_STRUCTURES))
def test_bundled_structure_space_group(name):
    from xpipe.xrd.reflections import crystal_system

    number, system = EXPECTED_STRUCTURES[name]
    st = powder.load_structure(name)
    assert st.spacegroup.number == number
    assert crystal_system(st.spacegroup) == system
    # full symmetry, not P1: the CIF's sites are an asymmetric unit
    assert len(st.get_all_unit_cell_sites()) > len(st.sites)


def test_every_bundled_structure_is_checked():
    assert set(powder.BUNDLED_STRUCTURES) == set(EXPECTED_STRUCTURES)


def test_kinds_and_systems_covered(scenarios):
    kinds = Counter(s.kind for s in scenarios.values())
    assert set(kinds) == set(SCENARIO_KINDS)
    systems = {p.system for s in scenarios.values() for p in s.phases if p.role != "decoy"}
    assert {"hexagonal", "tetragonal", "orthorhombic", "monoclinic", "cubic"} <= systems
    formats = {s.detector.file_format for s in scenarios.values()}
    assert formats == {"cbf", "hdf5"}
    n_decoy = sum(any(p.role == "decoy" for p in s.phases) for s in scenarios.values())
    assert 10 <= n_decoy <= 30  # about a third
    assert {s.geometry.beam_position for s in scenarios.values()} == {"centre", "edge", "off"}
    lam = [s.wavelength_a for s in scenarios.values()]
    assert 0.45 <= min(lam) and max(lam) <= 1.0


def test_truth_is_consistent(scenarios):
    for s in scenarios.values():
        assert 20 <= s.n_frames <= 40
        assert abs(s.geometry.rot1_rad) <= 0.05 and abs(s.geometry.rot2_rad) <= 0.05
        for f in s.frames:
            w = {name: st.weight_fraction for name, st in f.phases}
            assert sum(w.values()) == pytest.approx(1.0, abs=1e-5)
            assert all(v >= 0 for v in w.values())
            for p in s.phases:
                if p.role == "decoy":
                    assert w[p.name] == 0.0
                if p.role in ("minor", "collector"):
                    assert w[p.name] > 0
                if p.role == "minor":
                    assert 0.004 <= w[p.name] <= 0.06
        for a, b, i, j in s.two_phase_windows:
            for k in range(i, j + 1):
                assert s.frames[k].state(a).weight_fraction > 0
                assert s.frames[k].state(b).weight_fraction > 0


def _present(s, name):
    return [f.state(name).weight_fraction > 0 for f in s.frames]


def test_kind_specific_paths(scenarios):
    for s in scenarios.values():
        chain = [p for p in s.phases if p.chain_index is not None]
        if s.kind == "solid_solution":
            host = chain[0].name
            c = [f.state(host).cell for f in s.frames]
            assert all(_present(s, host))
            assert c[0] != max(c, key=lambda v: abs(v[2] - c[0][2]))  # the cell moves
        if s.kind == "biphasic":
            a, b = chain[0].name, chain[1].name
            assert s.two_phase_windows
            for name in (a, b):
                cells = np.array([f.state(name).cell[:3] for f in s.frames])
                assert np.ptp(cells, axis=0).max() / cells.mean() < 0.002  # nearly fixed
        if s.kind == "intermediate":
            mid = _present(s, chain[1].name)
            assert not mid[0] and any(mid)
            first = mid.index(True)
            assert not all(mid[first:])  # it vanishes again
            assert not any(all(_present(s, p.name)[i] for p in chain) for i in range(s.n_frames))
        if s.kind == "three_phase":
            assert any(all(_present(s, p.name)[i] for p in chain) for i in range(s.n_frames))
        if s.kind == "broadening":
            ws = [f.state(chain[0].name).w_deg2 for f in s.frames]
            assert max(ws) > 1.5 * ws[0]
        if s.kind == "texture":
            assert any(p.po_hkl is not None and 0.5 <= p.po_r <= 0.9 for p in s.phases)
        if s.kind == "impurity":
            assert any(p.role == "minor" for p in s.phases)


def test_make_scenario_is_deterministic():
    assert make_scenario(7) == make_scenario(7)
    assert make_scenario(7) != make_scenario(16)
    assert make_scenario(3, n_frames=5).n_frames == 5


def test_march_dollase_normalised():
    # Fibonacci sphere: nearly uniform directions
    n = 20000
    i = np.arange(n) + 0.5
    cos_a = 1.0 - 2.0 * i / n
    for r in (0.5, 0.7, 0.9, 1.3):
        assert march_dollase(cos_a, r).mean() == pytest.approx(1.0, abs=2e-3)
        assert march_dollase(1.0, r) == pytest.approx(r**-3)
        assert march_dollase(0.0, r) == pytest.approx(r**1.5)
    assert np.all(march_dollase(cos_a, 1.0) == 1.0)


def test_march_dollase_factors_use_the_reciprocal_metric():
    # monoclinic cell: the angle between a* and c* is 180 deg - beta
    beta = 109.3
    cell = (4.925, 2.818, 5.045, 90.0, beta, 90.0)
    eq = np.array([[1, 0, 0], [-1, 0, 0], [0, 0, 1], [0, 0, -1]])
    owner = np.array([0, 0, 1, 1])
    r = 0.7
    p = march_dollase_factors(eq, owner, 2, (0, 0, 1), r, cell)
    cb2 = math.cos(math.radians(beta)) ** 2
    assert p[0] == pytest.approx((r * r * cb2 + (1 - cb2) / r) ** -1.5)
    assert p[1] == pytest.approx(r**-3)
    assert np.all(march_dollase_factors(eq, owner, 2, (0, 0, 1), 1.0, cell) == 1.0)


def test_render_patterns_1d():
    s = make_scenario(8, n_frames=4)
    out = render_patterns_1d(s, n_points=1500)
    assert out["two_theta_deg"].shape == (1500,)
    assert out["counts"].shape == (4, 1500)
    assert np.all(out["counts"] >= 0)
    assert np.array_equal(out["sigma"], np.sqrt(np.maximum(out["counts"], 1)))
    assert out["wavelength_a"] == s.wavelength_a
    assert np.allclose(out["frame_time_s"], [f.mid_time_s for f in s.frames])
    again = render_patterns_1d(s, n_points=1500)
    assert np.array_equal(again["counts"], out["counts"])


def _strongest_reflection(s, frame, two_theta_range):
    """2theta of the strongest reflection (m |F|^2 L S) of the most abundant phase, from truth."""
    st_by_name = dict(s.frames[frame].phases)
    best = None
    for p in s.phases:
        st = st_by_name[p.name]
        if st.weight_fraction <= 0 or p.po_hkl is not None:
            continue
        structure = powder.with_lattice(powder.load_structure(p.name), powder.Lattice(*st.cell))
        lam = s.wavelength_a
        lo, hi = two_theta_range
        refl = powder.reflections(
            structure, lam / (2 * math.sin(math.radians(hi / 2))),
            lam / (2 * math.sin(math.radians(lo / 2))))
        tth = refl.two_theta_deg(lam)
        inten = refl.intensity(lam, "debye_scherrer_2d") * powder.phase_scale(
            st.weight_fraction, powder.cell_mass_amu(structure), st.volume_a3)
        k = int(np.argmax(inten))
        if best is None or inten[k] > best[0]:
            fwhm = float(powder.caglioti_fwhm_deg(tth[k], p.u_deg2, p.v_deg2, st.w_deg2))
            # the nearest other reflection of this phase, to skip unresolved ones
            others = np.delete(tth, k)
            gap = float(np.min(np.abs(others - tth[k]))) if others.size else 99.0
            best = (float(inten[k]), float(tth[k]), fwhm, gap, p.name)
    return best


@pytest.mark.parametrize("seed", [2, 5])  # Pilatus CBF, Eiger HDF5
def test_written_scenario(tmp_path, seed):
    import fabio
    import pyFAI

    from xpipe.recipe.model import load_recipe

    s = make_scenario(seed, n_frames=3)
    recipe = write_scenario(s, tmp_path / "a")
    load_recipe(recipe)  # a valid recipe whose frames xpipe can read

    truth = json.loads((tmp_path / "a" / "truth.json").read_text())
    assert truth["seed"] == seed and truth["kind"] == s.kind
    assert len(truth["frames"]) == 3
    assert [p["name"] for p in truth["phases"]] == [p.name for p in s.phases]
    for p in truth["phases"]:
        assert (tmp_path / "a" / p["cif"]).is_file()

    # same seed, same bytes
    write_scenario(make_scenario(seed, n_frames=3), tmp_path / "b")
    first = "frame_0001.cbf" if s.detector.file_format == "cbf" else "frames.h5"
    for name in ("truth.json", "recipe.yaml", "geometry.poni", first):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()

    # integrate the first frame with pyFAI and find the strongest reflection where truth says
    ai = pyFAI.load(str(tmp_path / "a" / "geometry.poni"))
    if s.detector.file_format == "cbf":
        img = fabio.open(str(tmp_path / "a" / first)).data.astype(float)
    else:
        import h5py
        import hdf5plugin  # noqa: F401

        with h5py.File(tmp_path / "a" / first, "r") as h5:
            img = h5["/entry/data/data"][0].astype(float)
    mask = (img < 0) | (img >= 2**32 - 1)
    if (tmp_path / "a" / "mask.npy").is_file():
        mask |= np.load(tmp_path / "a" / "mask.npy").astype(bool)
    lo, hi = s.two_theta_range_deg
    res = ai.integrate1d(img, 3000, unit="2th_deg", mask=mask, polarization_factor=0.99,
                         radial_range=(lo, hi), method=("bbox", "csr", "cython"))
    x, y = res.radial, res.intensity
    _, tth0, fwhm, gap, name = _strongest_reflection(s, 0, (lo + 0.5, hi - 0.5))
    assert gap > 2 * fwhm, f"strongest reflection of {name} not resolved"
    pixel_deg = math.degrees(max(s.detector.pixel_m) / s.geometry.distance_m)
    width = math.hypot(fwhm, pixel_deg)
    win = np.abs(x - tth0) < 1.5 * width
    base = np.median(y[np.abs(x - tth0) < 6 * width])
    top = win & (y - base > 0.5 * (y[win].max() - base))
    centroid = float(np.sum(x[top] * (y[top] - base)) / np.sum(y[top] - base))
    assert abs(centroid - tth0) < 0.25 * width
