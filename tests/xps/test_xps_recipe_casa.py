"""XPS fits a CasaXPS user drives from a recipe: Casa's lineshapes and Tougaard cross-section,
per-component fix/free/link, validate's checks, and a CasaXPS-analysed file reproduced."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED, needs_shared
from scipy.integrate import quad

import xpipe
from xpipe.cli import failed_groups, main
from xpipe.recipe.schema import RecipeInvalid
from xpipe.recipe.sections.xps import TougaardConfig
from xpipe.run_steps import RunReport
from xpipe.stages.registry import build_stages
from xpipe.stages.xps import Sample, fit_series_config
from xpipe.stages.xps_figures import energy_label
from xpipe.xps import backgrounds as bgm
from xpipe.xps import lineshapes as ls
from xpipe.xps.fit import Doublet, fit_spectrum

ROOT = Path(__file__).resolve().parents[2]
NVP = ROOT / "example_data" / "nvp_xps" / "nvp_xps_0.vms"
CASA_FILE = SHARED / "xps" / "cheminfo_vamas" / "assigned.vms"
LN2 = np.log(2.0)


def _recipe(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text("name: casa\noutput: out\n" + textwrap.dedent(body))
    return path


def _problems(path: Path) -> list:
    with pytest.raises(RecipeInvalid) as info:
        xpipe.load_recipe(path)
    return info.value.problems


# ----------------------------------------------------------------------------- lineshapes
def test_gl_and_sgl_follow_casa_formulas_at_reference_points():
    """CasaXPS GL(m): exp(-4 ln2 (1 - m/100) u^2) / (1 + 4 (m/100) u^2), SGL(m): the sum of
    unit-height G and L, u = (x - E) / F ("Line Shapes and Backgrounds")."""
    f, e = 1.3, 100.0
    for m in (0.0, 30.0, 70.0, 100.0):
        w = m / 100.0
        u = np.array([0.0, 0.25, 0.5, 1.0, 3.0])
        gl_casa = np.exp(-4 * LN2 * (1 - w) * u**2) / (1 + 4 * w * u**2)
        sgl_casa = (1 - w) * np.exp(-4 * LN2 * u**2) + w / (1 + 4 * u**2)
        for name, casa in (("gl", gl_casa), ("sgl", sgl_casa)):
            y = ls.profile(name, e + u * f, e, f, m=m)
            np.testing.assert_allclose(y / y[0], casa, rtol=1e-12)


def test_la_and_lf_follow_casa_conventions():
    """LA(alpha, beta, m): L^alpha on the high-BE side, L^beta on the low-BE side; LF is LA with
    damped tails, equal to LA for a damping width far beyond the peak."""
    f, e = 0.8, 230.0
    u = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    x = e + u * f
    lor = 1.0 / (1.0 + 4.0 * u**2)
    casa = np.where(u > 0, lor**1.53, lor**2.8)
    y = ls.profile("la", x, e, f, alpha=1.53, beta=2.8, gauss_fwhm=0.0)
    np.testing.assert_allclose(y / y[2], casa, rtol=1e-12)
    damped = ls.profile("lf", x, e, f, alpha=1.53, beta=2.8, damping_fwhm=3.0, gauss_fwhm=0.0)
    np.testing.assert_allclose(damped / damped[2], casa * np.exp(-4 * LN2 * (x - e) ** 2 / 9.0), rtol=1e-12)
    grid = np.linspace(150.0, 310.0, 160001)
    far = ls.profile("lf", grid, e, f, alpha=1.2, beta=2.0, damping_fwhm=1e4, gauss_fwhm=0.4)
    np.testing.assert_allclose(far, ls.profile("la", grid, e, f, alpha=1.2, beta=2.0, gauss_fwhm=0.4), atol=2e-6)


def test_a_casa_la_alpha_of_0_54_is_accepted():
    """LA(0.54, ...): exponents just above 1/2, where the area is still finite (exact here)."""
    assert ls.LINESHAPES["la"].params["alpha"][1] < 0.54
    y0 = ls.profile("la", 0.0, 0.0, 0.9, alpha=0.54, beta=0.6, gauss_fwhm=0.0)
    halves = [quad(lambda t, p=p: (1 + 4 * t * t) ** -p, 0, np.inf)[0] for p in (0.54, 0.6)]
    assert float(y0) == pytest.approx(1.0 / (0.9 * sum(halves)), rel=1e-6)


@pytest.mark.parametrize("params", [
    {"alpha": 0.3, "beta": 0.54, "damping_fwhm": 4.0, "gauss_fwhm": 0.5},  # LA's area would be infinite
    {"alpha": 5.0, "beta": 1.0, "damping_fwhm": 0.8, "gauss_fwhm": 0.0},
])
def test_lf_has_unit_area_for_any_positive_exponent(params):
    x = np.linspace(-60.0, 60.0, 600001)
    assert np.trapezoid(ls.profile("lf", x, 0.0, 0.9, **params), x) == pytest.approx(1.0, abs=1e-6)


def test_la_at_one_half_is_refused_with_the_way_out():
    with pytest.raises(ValueError, match="lf has finite tails"):
        ls.la(np.zeros(3), 0.0, 1.0, alpha=0.5, beta=1.0)


# ----------------------------------------------------------------------------- Tougaard
def test_tougaard_cross_sections_from_a_recipe():
    x = np.linspace(150.0, 170.0, 201)
    y = 100.0 + 5000.0 * ls.profile("gl", x, 160.0, 1.0, m=30.0)
    opts = TougaardConfig(b_ev2=2684.4, c_ev2=450.0).options()
    bg = bgm.tougaard(x, y, avg_points=5, **opts)
    k = bgm.tougaard_kernel(x[-1] - x[:-1], B=2684.4, C=450.0)
    direct = y[:5].mean() + np.trapezoid(k * (y[:-1] - y[:5].mean()), x[:-1])
    assert bg[-1] == pytest.approx(direct, rel=2e-3)
    three = TougaardConfig(cross_section="three_parameter", b_ev2=434.0, c_ev2=551.0, d_ev2=436.0).options()
    assert three == {"B": 434.0, "C": 551.0, "D": 436.0, "C_sign": -1, "fit_B": False}
    assert TougaardConfig(cross_section="polymer").options()["material"] == "polymer"


# ----------------------------------------------------------------------------- validate
def test_validate_catches_an_out_of_range_parameter_at_its_key_and_line(tmp_path):
    path = _recipe(tmp_path, f"""\
        xps:
          - name: Mo3d
            files: {NVP}
            block: V 2p
            region_ev: [510, 538]
            charge: false
            components:
              - name: A
                center: 517.0
                shape: la
                alpha: 0.4
              - name: B
                center: 524.0
                shape: la
                m: 243
        """)
    problems = {p.key: p for p in _problems(path)}
    assert problems["xps[0].components[0].alpha"].line == 13
    assert "shape lf has finite tails" in problems["xps[0].components[0].alpha"].message
    assert problems["xps[0].components[1].m"].line == 17
    assert "gauss_fwhm" in problems["xps[0].components[1].m"].message


def test_validate_catches_a_missing_charge_reference_block(tmp_path):
    path = _recipe(tmp_path, f"""\
        xps:
          - name: V2p
            files: {NVP}
            block: V 2p
            region_ev: [510, 538]
            charge:
              block: Au 4f
              reference: Au 4f7/2
            components:
              - {{name: A, center: 517.0}}
        """)
    [problem] = _problems(path)
    assert problem.key == "xps[0].charge.block" and problem.line == 8
    assert "no block matching 'Au 4f'" in problem.message and "'C 1s'" in problem.message


def test_validate_counts_xps_series(tmp_path, capsys):
    path = _recipe(tmp_path, f"""\
        xps:
          - name: V2p
            files: {NVP}
            block: V 2p
            region_ev: [510, 538]
            charge: {{shift_ev: -0.68}}
            components: [{{name: A, center: 517.0}}]
          - name: V2p_again
            files: {NVP}
            block: V 2p
            region_ev: [510, 538]
            charge: false
            components: [{{name: A, center: 517.0}}]
        """)
    assert main(["validate", str(path)]) == 0
    assert "  xps: 2 series" in capsys.readouterr().out


# ----------------------------------------------------------------------------- fix / free / link
def test_fix_free_and_link_any_parameter(tmp_path):
    path = _recipe(tmp_path, f"""\
        xps:
          - name: V2p
            files: {NVP}
            block: V 2p
            region_ev: [510, 538]
            charge: false
            fix: ["center(V4+ 2p)"]
            free: ["m(V5+ 2p)"]
            components:
              - {{name: V5+ 2p, kind: doublet, orbital: p, center: 517.2, m: 30, fix: [m]}}
              - name: V4+ 2p
                kind: doublet
                orbital: p
                center: 515.9
                free: [splitting]
                link: {{fwhm: V5+ 2p3/2, area_ratio: "area_ratio(V5+ 2p) * 1.0"}}
        """)
    cfg = xpipe.load_recipe(path).recipe.xps[0]
    v5, v4 = cfg.entries()
    assert v5.vary == {"m": True}  # the series' free wins over the component's fix
    assert v4.vary == {"splitting": True, "center": False}
    assert cfg.all_links() == ["fwhm(V4+ 2p) = fwhm(V5+ 2p3/2)", "area_ratio(V4+ 2p) = area_ratio(V5+ 2p) * 1.0"]
    res = fit_series_config(cfg, path.parent)
    assert res.failures == []
    fit = res.fits[0]
    assert fit.params["c1_fwhm"].value == pytest.approx(fit.params["c0_fwhm"].value, rel=1e-12)
    assert fit.params["c0_m"].vary and not fit.params["c1_center"].vary
    assert fit.components[2].center == pytest.approx(515.9)


def test_fix_and_free_name_real_quantities(tmp_path):
    path = _recipe(tmp_path, f"""\
        xps:
          - name: V2p
            files: {NVP}
            block: V 2p
            region_ev: [510, 538]
            charge: false
            free: ["eta(A)", "fwhm(Z)"]
            components:
              - {{name: A, center: 517.0, fix: [alpha], link: {{gauss_fwhm: B}}}}
        """)
    messages = {p.key: p.message for p in _problems(path)}
    assert "'alpha' is not a quantity of 'A' (gl)" in messages["xps[0].components[0].fix[0]"]
    assert "xps[0].components[0].link.gauss_fwhm" in messages


# ----------------------------------------------------------------------------- messages
def test_failed_run_points_to_the_xps_groups():
    report = RunReport(Path("out"), None, failed=[("V2p/a.vms", "fit failed")], failed_stages=["xps"])
    assert failed_groups(report) == "the failed group (/entry/xps/<series>/failed)"


def test_axis_label_says_charge_corrected_only_when_corrected(tmp_path):
    path = _recipe(tmp_path, f"""\
        xps:
          - name: V2p
            files: {NVP}
            block: V 2p
            region_ev: [510, 538]
            charge: false
            components: [{{name: A, center: 517.0}}]
        """)
    loaded = xpipe.load_recipe(path)
    [stage] = build_stages(loaded.recipe, loaded.base_dir)
    res = fit_series_config(stage.series[0], loaded.base_dir)
    assert energy_label(res.samples[0]) == "binding energy (eV, not charge corrected)"
    assert energy_label(Sample("a", "a", None, charge_corrected=True)) == "binding energy (eV, charge corrected)"


# ----------------------------------------------------------------------------- CasaXPS file
def _casa_blocks():
    from xpipe.xps.readers import read_xps

    spectra = read_xps(CASA_FILE)
    out = []
    for s in spectra:
        md = s.metadata
        regions, comps = md.get("casa_regions", []), md.get("casa_components", [])
        if regions and regions[0].get("background") == "U 2 Tougaard" and len({c["name"] for c in comps}) > 1:
            out.append(s)
    return out


def _casa_fractions(comps) -> dict[str, float]:
    areas: dict[str, float] = {}
    for c in comps:
        areas[c["name"]] = areas.get(c["name"], 0.0) + c["area"]["value"]
    total = sum(areas.values())
    return {k: v / total for k, v in areas.items()}


def _casa_doublets(comps) -> list[Doublet]:
    """CasaXPS's S 2p doublets: the major lines (area link -1), the minor ones tied at 1.16 eV
    and half the area, GL(30), Casa's position and FWHM limits (positions on kinetic energy)."""
    out = []
    for c in comps:
        if c["area"]["link"] != -1:
            continue
        be, pos, w = c["position_be_ev"], c["position"], c["fwhm"]
        lo, hi = be + pos["value"] - pos["upper"], be + pos["value"] - pos["lower"]
        out.append(Doublet(c["name"], "p", be, splitting=1.16, area_ratio=0.5, shape="gl", shape_params={"m": 30.0},
                           fwhm=min(max(w["value"], w["lower"]), w["upper"]), fwhm_bounds=(w["lower"], w["upper"]),
                           center_bounds=(min(lo, be), max(hi, be))))
    return out


@needs_shared
def test_casa_tougaard_regions_reproduce_casa_relative_areas():
    blocks = _casa_blocks()
    assert len(blocks) == 3  # the S 2p regions with two chemical states
    for s in blocks:
        md = s.metadata
        region, comps = md["casa_regions"][0], md["casa_components"]
        b_ev2, c_ev2 = float(region["extra"][0]), -float(region["extra"][1])
        x = s.binding_energy_ev + md["casa_calibration_shift_ev"]
        lo, hi = region["binding_limits_ev"]
        opts = {"avg_points": 5, **TougaardConfig(b_ev2=b_ev2, c_ev2=c_ev2).options()}
        fit = fit_spectrum(x, s.intensity, _casa_doublets(comps), region=(lo - 1e-6, hi + 1e-6),
                           background="tougaard", background_options=opts)
        for name, frac in _casa_fractions(comps).items():
            assert fit.fraction(name)[0] == pytest.approx(frac, abs=0.01), (s.sample, name)


@needs_shared
def test_recipe_reproduces_casa_components_with_casa_background(tmp_path):
    s = _casa_blocks()[0]
    md = s.metadata
    region, comps = md["casa_regions"][0], md["casa_components"]
    lo, hi = region["binding_limits_ev"]
    lines = []
    for d in _casa_doublets(comps):
        lines.append(f"      - {{name: '{d.name}', kind: doublet, orbital: p, center: {d.center}, splitting: 1.16, "
                     f"area_ratio: 0.5, shape: gl, m: 30, fwhm: {d.fwhm}, fwhm_bounds: [{d.fwhm_bounds[0]}, "
                     f"{d.fwhm_bounds[1]}], center_bounds: [{d.center_bounds[0]}, {d.center_bounds[1]}]}}")
    head = textwrap.dedent(f"""\
        xps:
          - name: S2p
            files: {CASA_FILE}
            block: S 2p
            region_ev: [{lo - 1e-6}, {hi + 1e-6}]
            charge: {{shift_ev: {md["casa_calibration_shift_ev"]}}}
            background: tougaard
            tougaard: {{b_ev2: {region["extra"][0]}, c_ev2: {-float(region["extra"][1])}}}
            components:
        """)
    path = _recipe(tmp_path, head + "\n".join(lines) + "\n")
    cfg = xpipe.load_recipe(path).recipe.xps[0]
    res = fit_series_config(cfg, path.parent)
    assert res.failures == [] and res.settings["tougaard"]["fit_B"] is False
    for name, frac in _casa_fractions(comps).items():
        assert res.fits[0].fraction(name)[0] == pytest.approx(frac, abs=0.01)
