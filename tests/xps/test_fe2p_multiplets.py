"""Fe 2p of the iron references with the Gupta-Sen multiplet template, and the same optimum under
perturbations that mimic another machine.

The four references (``xpsdeeplearning/Fe_references.vms``: Fe metal, FeO, Fe3O4, Fe2O3, one
instrument, monochromatic Al Ka, 20 eV pass energy) and the two text exports of FeO and Fe2O3
are fitted with ``recipes/xps/fe2p.yaml`` over 700-740 eV on a Shirley background. FeO must be
mostly Fe2+ and Fe2O3 mostly Fe3+ (> 0.7 of the oxide each), the metal mostly Fe0, and the mean
valences must order FeO < Fe3O4 < Fe2O3. The fit must not depend on floating-point luck: starting
values moved by 1e-9 (relative), one BLAS thread instead of two, and the data given in reverse
order must give the same valence shares within 1e-3.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import ROOT, SHARED
from threadpoolctl import threadpool_limits

from xpipe.recipe.sections.xps import load_library
from xpipe.xps.fit import fit_spectrum
from xpipe.xps.readers import read_xps

FE_DATA = SHARED / "xps" / "xpsdeeplearning"
REGION = (700.0, 740.0)
pytestmark = pytest.mark.skipif(not FE_DATA.is_dir(), reason="shared XPS data (../shared/data/xps) not available")


@pytest.fixture(scope="module")
def template():
    lib = load_library(ROOT / "recipes" / "xps" / "fe2p.yaml")
    return [c.entry() for c in lib.components], list(lib.links)


@pytest.fixture(scope="module")
def references():
    return {s.sample: s for s in read_xps(FE_DATA / "Fe_references.vms")}


def _fit(spec_or_xy, template, **kw):
    model, links = template
    x, y = (spec_or_xy.binding_energy_ev, spec_or_xy.intensity) if hasattr(spec_or_xy, "intensity") else spec_or_xy
    return fit_spectrum(x, y, kw.pop("model", model), links=links, region=REGION, **kw)


def _oxide_share(fit, valence: float) -> float:
    s = fit.valence_shares()
    return s[valence] / (s.get(2.0, 0.0) + s.get(3.0, 0.0))


@pytest.fixture(scope="module")
def fits(template, references):
    return {name: _fit(spec, template) for name, spec in references.items()}


def test_the_references_come_out_as_their_valence(fits):
    # measured: FeO Fe2+ 0.78 of the oxide, Fe2O3 Fe3+ 0.84, Fe metal 0.53 Fe0 (the rest a native
    # oxide), Fe3O4 mean valence 2.35 (the ideal 2.67 is not reached: its Fe3+ lines overlap the
    # Fe2+ envelope's upper multiplet lines)
    assert _oxide_share(fits["FeO"], 2.0) > 0.7
    assert _oxide_share(fits["Fe2O3"], 3.0) > 0.7
    assert fits["Fe metal"].valence_shares()[0.0] > 0.5
    v = {k: f.mean_valence for k, f in fits.items()}
    assert v["FeO"] < v["Fe3O4"] < v["Fe2O3"], v
    assert 2.0 < v["Fe3O4"] < 3.0
    for name, f in fits.items():
        assert f.success, (name, f.message)
        assert f.optimum["n_best"] >= 1, name


def test_the_text_exports_agree_with_the_vamas_blocks(template, fits):
    # the text exports are the same measurements (other export, same counts scale or not): the
    # valence shares must agree
    for fname, name in (("Fe2p_FeO.txt", "FeO"), ("Fe2p_Fe2O3.txt", "Fe2O3")):
        (spec,) = read_xps(FE_DATA / fname)
        f = _fit(spec, template)
        assert _oxide_share(f, 2.0) == pytest.approx(_oxide_share(fits[name], 2.0), abs=0.02), fname


def test_the_envelopes_move_as_one_species(fits):
    # every multiplet line keeps its offset from the first line of its envelope
    f = fits["FeO"]
    c = {comp.name: comp.center for comp in f.components}
    assert c["Fe2+ m2 2p3/2"] - c["Fe2+ m1 2p3/2"] == pytest.approx(1.1, abs=1e-9)
    assert c["Fe3+ sat 2p3/2"] - c["Fe3+ m1 2p3/2"] == pytest.approx(9.2, abs=1e-9)
    a = {s.name: s.area for s in f.species}
    assert a["Fe3+ m2 2p"] / a["Fe3+ m1 2p"] == pytest.approx(1.45, rel=1e-9)


@pytest.mark.parametrize("fname", ["Fe2p_FeO.txt", "Fe2p_Fe2O3.txt"])
def test_same_optimum_under_perturbations(template, fname):
    (spec,) = read_xps(FE_DATA / fname)
    x, y = spec.binding_energy_ev, spec.intensity
    model, _ = template
    with threadpool_limits(limits=2):
        ref = _fit((x, y), template)
    shares = [_oxide_share(ref, 2.0)]
    with threadpool_limits(limits=1):  # another BLAS thread count
        shares.append(_oxide_share(_fit((x, y), template), 2.0))
    shares.append(_oxide_share(_fit((x[::-1].copy(), y[::-1].copy()), template), 2.0))  # reversed data
    moved = [replace(e, center=e.center * (1 + 1e-9), fwhm=e.fwhm * (1 - 1e-9)) for e in model]
    shares.append(_oxide_share(_fit((x, y), template, model=moved), 2.0))  # starts moved by 1e-9
    assert np.ptp(shares) < 1e-3, (fname, shares)
    assert ref.optimum["n_local"] >= 1 and 1 <= ref.optimum["n_best"] <= ref.optimum["n_local"]
