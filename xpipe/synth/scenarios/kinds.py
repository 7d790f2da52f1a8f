"""Library of the generator (detectors, materials, strains) and the draw of a reaction path.

Each kind of :data:`xpipe.synth.scenarios.SCENARIO_KINDS` picks a material (a chain of
phases that react into each other), its transition ranges in state of charge and its
solid-solution strains, and the phases of constant mass (current collector, impurities,
inactive components) that come with it.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache

from ...xrd.reflections import crystal_system
from .. import powder
from . import physics
from .specs import PhaseSpec

# ------------------------------------------------------------------------- library

#: Detectors: pyFAI name -> (file format, pixel data type). All <= 1.1 Mpixel.
DETECTORS = {
    "Pilatus300k": ("cbf", "int32"),
    "Pilatus1M": ("cbf", "int32"),
    "Eiger500k": ("hdf5", "uint32"),
    "Eiger1M": ("hdf5", "uint32"),
}

#: Active materials: phases of the reaction chain, framework element (conserved), the
#: minor phases that commonly come with them, and plausible wrong guesses.
MATERIALS = {
    "LFP": {"chain": ("LiFePO4", "FePO4"), "framework": "Fe",
            "impurities": ("Li2O", "LiF"), "decoys": ("NiO", "Li2O", "V2O3", "LiF")},
    "LMO": {"chain": ("LiMn2O4", "lambda-MnO2"), "framework": "Mn",
            "impurities": ("Li2MnO3", "Li2O"), "decoys": ("Co3O4", "NiO", "Li2MnO3", "LiF")},
    "NVP": {"chain": ("Na3V2(PO4)3", "NaV2(PO4)3"), "framework": "V",
            "impurities": ("V2O3",), "decoys": ("V2O3", "LiF", "Al")},
    "LCO": {"chain": ("LiCoO2",), "framework": "Co",
            "impurities": ("Co3O4", "Li2O"), "decoys": ("Co3O4", "LiNiO2", "NiO", "LiF")},
    "LNO": {"chain": ("LiNiO2", "Li0.5NiO2", "Li0.3NiO2"), "framework": "Ni",
            "impurities": ("NiO", "Li2O"), "decoys": ("NiO", "Li2MnO3", "LiCoO2", "Co3O4")},
    "TiO2": {"chain": ("anatase-TiO2",), "framework": "Ti",
             "impurities": ("rutile-TiO2",), "decoys": ("rutile-TiO2", "Li2O", "Cu")},
}

#: Solid-solution strain of each phase over its solid-solution range: relative change of
#: a, b, c and the change of beta (deg). Typical literature magnitudes.
STRAINS = {
    "LiCoO2": (-0.003, -0.003, 0.020, 0.0),  # Li1 -> Li0.5: c expands about 2 %
    "LiNiO2": (-0.006, -0.006, 0.008, 0.0),  # H1 on charge
    "Li0.5NiO2": (-0.003, -0.004, 0.004, 0.3),
    "Li0.3NiO2": (-0.002, -0.002, 0.003, 0.0),
    "LiMn2O4": (-0.012, -0.012, -0.012, 0.0),  # 8.245 -> about 8.15 A
    "lambda-MnO2": (-0.002, -0.002, -0.002, 0.0),
    "Na3V2(PO4)3": (-0.0035, -0.0035, -0.0020, 0.0),
    "NaV2(PO4)3": (-0.001, -0.001, 0.0005, 0.0),
    "anatase-TiO2": (0.003, 0.003, -0.006, 0.0),  # dilute Li in anatase
    "LiFePO4": (-0.0025, -0.0015, 0.001, 0.0),  # narrow Li(1-a)FePO4 range
    "FePO4": (0.002, 0.0015, -0.001, 0.0),
}


@lru_cache(maxsize=64)
def phase_info(name: str) -> tuple[str, str, str, tuple[float, ...]]:
    """CIF file name, space group, crystal system and CIF cell of a bundled phase.

    Parameters
    ----------
    name : str
        Short name of a bundled structure (key of
        :data:`xpipe.synth.powder.BUNDLED_STRUCTURES`).

    Returns
    -------
    tuple
        ``(cif_file, space_group, system, cell)``: file name, gemmi extended
        Hermann-Mauguin symbol, crystal system as the cell refinement names it, and
        ``(a, b, c, alpha, beta, gamma)`` in angstrom and degrees.

    Examples
    --------
    >>> cif, sg, system, cell = phase_info("LiFePO4")
    >>> cif, sg, system, [round(v, 3) for v in cell[:3]]
    ('LiFePO4_Pnma.cif', 'P n m a', 'orthorhombic', [10.332, 6.01, 4.692])
    """
    cif = powder.BUNDLED_STRUCTURES[name]
    st = powder.load_structure(powder.structure_path(cif))
    c = st.cell
    return cif, st.spacegroup.xhm(), crystal_system(st.spacegroup), (
        c.a, c.b, c.c, c.alpha, c.beta, c.gamma)


# ------------------------------------------------------------------------ drawing


def uniform(rng, lo, hi, nd=6):
    """One uniform draw in ``[lo, hi)``, rounded to ``nd`` decimals.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the draw.
    lo, hi : float
        Range.
    nd : int
        Decimals kept.

    Returns
    -------
    float
        The rounded draw.

    Examples
    --------
    >>> import numpy as np
    >>> uniform(np.random.default_rng(0), 1.0, 2.0, 3)
    1.637
    """
    return round(float(rng.uniform(lo, hi)), nd)


def _profile(rng, kind: str) -> dict:
    """Caglioti U, V, W (deg^2) and eta: FWHM about 0.03-0.09 deg at low angle."""
    if kind == "sharp":  # large-grained metal foil
        w = uniform(rng, 0.0006, 0.0015)
    elif kind == "broad":  # nanocrystalline impurity
        w = uniform(rng, 0.003, 0.008)
    else:
        w = uniform(rng, 0.0009, 0.004)
    u = uniform(rng, 0.001, 0.02)
    v = round(-float(rng.uniform(0.0, 0.3)) * math.sqrt(u * w), 7)
    return {"u_deg2": u, "v_deg2": v, "w_deg2": w, "w_end_deg2": w, "eta": uniform(rng, 0.1, 0.7, 3)}


def new_phase(name, role, rng, profile="normal", **kw) -> PhaseSpec:
    """A :class:`PhaseSpec` of a bundled phase with a drawn peak profile.

    Parameters
    ----------
    name : str
        Short name of a bundled structure.
    role : str
        major, minor, intermediate, collector or decoy.
    rng : numpy.random.Generator
        Source of the Caglioti U, V, W (deg^2) and eta.
    profile : str
        ``"sharp"`` (large-grained foil), ``"broad"`` (nanocrystalline) or ``"normal"``.
    **kw
        Other fields of :class:`PhaseSpec` (chain index, strain, texture, mass).

    Returns
    -------
    PhaseSpec
        The phase, its CIF cell rounded to 6 decimals.

    Examples
    --------
    >>> import numpy as np
    >>> p = new_phase("Al", "collector", np.random.default_rng(0), "sharp")
    >>> p.cif, p.system, p.cif_cell[0], p.w_deg2
    ('Al_Fm-3m.cif', 'cubic', 4.0495, 0.001173)
    """
    cif, sg, system, cell = phase_info(name)
    return PhaseSpec(name=name, cif=cif, space_group=sg, system=system, role=role,
                     cif_cell=tuple(round(v, 6) for v in cell), **_profile(rng, profile), **kw)


def _strain(name: str, system: str, factor: float) -> tuple[float, float, float, float]:
    ea, eb, ec, db = STRAINS.get(name, (0.0, 0.0, 0.0, 0.0))
    if system == "cubic":
        eb = ec = ea
    elif system in ("tetragonal", "hexagonal", "rhombohedral"):
        eb = ea
    return (round(ea * factor, 6), round(eb * factor, 6), round(ec * factor, 6),
            round(db * factor, 4))


def _chain(material: str, rng, ss_factor: float, transitions, ss_ranges) -> list[PhaseSpec]:
    """PhaseSpecs of a material's chain with given transition and solid-solution ranges."""
    chain = MATERIALS[material]["chain"]
    out = []
    for k, name in enumerate(chain[: len(transitions) + 1]):
        _, _, system, _ = phase_info(name)
        role = "major" if k in (0, len(transitions)) else "intermediate"
        out.append(new_phase(name, role, rng, chain_index=k,
                          strain=_strain(name, system, ss_factor * uniform(rng, 0.7, 1.3)),
                          ss_range=ss_ranges[k]))
    return out


def draw_reaction(kind: str, rng) -> tuple[str, list[PhaseSpec], list, list[PhaseSpec], str]:
    """Draw the material, reaction chain and constant phases of a scenario kind.

    Parameters
    ----------
    kind : str
        One of :data:`xpipe.synth.scenarios.SCENARIO_KINDS`.
    rng : numpy.random.Generator
        Source of every draw (in a fixed order for each kind).

    Returns
    -------
    tuple
        ``(material, chain, transitions, constant_phases, description)``: the key of
        :data:`MATERIALS`, the :class:`PhaseSpec` of the chain, the ``(lo, hi)`` state of
        charge range of every transition, the phases of constant mass and a sentence.

    Raises
    ------
    ValueError
        For an unknown kind.

    Examples
    --------
    >>> import numpy as np
    >>> material, chain, transitions, consts, what = draw_reaction(
    ...     "biphasic", np.random.default_rng(1))
    >>> material, [p.name for p in chain], transitions
    ('NVP', ['Na3V2(PO4)3', 'NaV2(PO4)3'], [(0.1155, 0.893)])
    """
    draw = _REACTIONS.get(kind)
    if draw is None:
        raise ValueError(f"unknown scenario kind {kind!r}")
    return draw(kind, rng)


def _one_transition(material: str, rng, lo_range, hi_range) -> tuple[list[PhaseSpec], list]:
    """Chain of ``material`` with one transition drawn in the ranges (a solid solution if the
    material has a single phase), and its transitions."""
    if len(MATERIALS[material]["chain"]) > 1:
        lo, hi = uniform(rng, *lo_range, 4), uniform(rng, *hi_range, 4)
        t = [(lo, hi)]
        return _chain(material, rng, 1.0, t, [(0.0, lo), (hi, 1.0)]), t
    return _chain(material, rng, 1.0, [], [(0.0, 1.0)]), []


def _draw_solid_solution(kind: str, rng):
    material = str(rng.choice(["LCO", "LMO", "NVP", "LNO", "TiO2"]))
    chain = _chain(material, rng, 1.0, [], [(0.0, 1.0)])
    what = f"solid solution of {chain[0].name} (cell linear in state of charge)"
    if kind == "broadening":
        p = chain[0]
        w_end = round(p.w_deg2 * uniform(rng, 2.0, 5.0), 6)
        chain[0] = _replace(p, w_end_deg2=w_end)
        what += f"; Caglioti W grows from {p.w_deg2:g} to {w_end:g} deg^2 with state of charge"
    return material, chain, [], [], what


def _draw_biphasic(kind: str, rng):
    material = str(rng.choice(["LFP", "NVP", "LMO"]))
    lo, hi = uniform(rng, 0.03, 0.12, 4), uniform(rng, 0.88, 0.97, 4)
    chain = _chain(material, rng, uniform(rng, 0.0, 0.1), [(lo, hi)], [(0.0, lo), (hi, 1.0)])
    what = f"two-phase reaction {chain[0].name} -> {chain[1].name} (cells nearly fixed)"
    return material, chain, [(lo, hi)], [], what


def _draw_solid_solution_biphasic(kind: str, rng):
    material = str(rng.choice(["LMO", "NVP", "LFP"]))
    lo, hi = uniform(rng, 0.2, 0.45, 4), uniform(rng, 0.9, 0.99, 4)
    factor = 1.0 if material != "LFP" else uniform(rng, 1.0, 2.0)
    chain = _chain(material, rng, factor, [(lo, hi)], [(0.0, lo), (hi, 1.0)])
    what = (f"solid solution of {chain[0].name}, then two-phase reaction to "
            f"{chain[1].name}")
    return material, chain, [(lo, hi)], [], what


def _draw_nickelate(kind: str, rng):
    """LiNiO2 -> Li0.5NiO2 -> Li0.3NiO2: one after the other, or overlapping."""
    material = "LNO"
    if kind == "intermediate":
        t = [(uniform(rng, 0.08, 0.18, 4), uniform(rng, 0.3, 0.4, 4)),
             (uniform(rng, 0.55, 0.65, 4), uniform(rng, 0.8, 0.92, 4))]
        ss = [(0.0, t[0][0]), (t[0][1], t[1][0]), (t[1][1], 1.0)]
    else:
        t = [(uniform(rng, 0.05, 0.15, 4), uniform(rng, 0.55, 0.68, 4)),
             (uniform(rng, 0.3, 0.45, 4), uniform(rng, 0.85, 0.95, 4))]
        ss = [(0.0, t[0][0]), (t[0][1], t[0][1]), (t[1][1], 1.0)]
    chain = _chain(material, rng, 1.0, t, ss)
    names = " -> ".join(p.name for p in chain)
    what = (f"{names}: the monoclinic phase appears and vanishes" if kind == "intermediate"
            else f"{names} with overlapping transitions: three phases at once")
    return material, chain, t, [], what


def _draw_overlap(kind: str, rng):
    """A constant phase whose strong peaks overlap those of the active material."""
    variant = str(rng.choice(["LNO+Li2MnO3", "LMO+Li2MnO3", "Al+LiF", "Cu+NiO"]))
    if variant == "LMO+Li2MnO3":
        material = "LMO"
        chain, t = _one_transition(material, rng, (0.25, 0.45), (0.9, 0.99))
    else:
        material = "LCO" if variant == "Al+LiF" else "LNO"
        chain = _chain(material, rng, 1.0, [], [(0.0, 1.0)])
        t = []
    consts: list[PhaseSpec] = []
    if variant.endswith("Li2MnO3"):
        consts.append(new_phase("Li2MnO3", "major", rng,
                                constant_weight_fraction=uniform(rng, 0.15, 0.4, 4)))
    else:
        coll, imp = variant.split("+")
        consts.append(new_phase(coll, "collector", rng, "sharp",
                                constant_weight_fraction=uniform(rng, 0.05, 0.25, 4)))
        consts.append(new_phase(imp, "minor", rng,
                                constant_weight_fraction=uniform(rng, 0.02, 0.05, 4)))
    first, second = {"LNO+Li2MnO3": ("LiNiO2", "Li2MnO3"),
                     "LMO+Li2MnO3": ("LiMn2O4", "Li2MnO3")}.get(variant, variant.split("+"))
    what = (f"overlapping strong peaks ({closest_strong_peaks(first, second)}) over a "
            + ("solid solution" if not t else "solid solution then two-phase reaction")
            + f" of {chain[0].name}")
    return material, chain, t, consts, what


def _draw_texture(kind: str, rng):
    """Preferred orientation: plate-like active material, or a rolled Al collector."""
    target = str(rng.choice(["collector", "plate"]))
    r = uniform(rng, 0.5, 0.9, 3)
    if target == "plate":
        material = str(rng.choice(["LCO", "LNO"]))
        chain = _chain(material, rng, 1.0, [], [(0.0, 1.0)])
        chain[0] = _replace(chain[0], po_hkl=(0, 0, 1), po_r=r)
        what = (f"solid solution of plate-like {chain[0].name} with preferred orientation "
                f"(March-Dollase (0 0 1), r = {r:g})")
        return material, chain, [], [], what
    material = str(rng.choice(["LFP", "LCO", "LMO", "NVP"]))
    chain, t = _one_transition(material, rng, (0.05, 0.3), (0.85, 0.97))
    hkl = [(1, 1, 1), (1, 0, 0), (1, 1, 0)][int(rng.integers(3))]
    consts = [new_phase("Al", "collector", rng, "sharp", po_hkl=hkl, po_r=r,
                        constant_weight_fraction=uniform(rng, 0.08, 0.3, 4))]
    what = (f"rolled Al current collector with preferred orientation (March-Dollase "
            f"({' '.join(map(str, hkl))}), r = {r:g}) over {chain[0].name}"
            + (f" -> {chain[1].name}" if t else " (solid solution)"))
    return material, chain, t, consts, what


def _draw_impurity(kind: str, rng):
    """One or two minor phases of constant mass next to any material."""
    material = str(rng.choice(list(MATERIALS)))
    chain, t = _one_transition(material, rng, (0.1, 0.35), (0.85, 0.97))
    pool = list(MATERIALS[material]["impurities"])
    n = min(len(pool), int(rng.integers(1, 3)))
    picks = [pool[i] for i in sorted(rng.permutation(len(pool))[:n])]
    consts = [new_phase(name, "minor", rng, "broad",
                        constant_weight_fraction=uniform(rng, 0.005, 0.05, 4))
              for name in picks]
    what = (f"{' -> '.join(p.name for p in chain)} with minor "
            f"{', '.join(picks)} at constant mass")
    return material, chain, t, consts, what


#: The draw of each scenario kind.
_REACTIONS = {
    "solid_solution": _draw_solid_solution,
    "broadening": _draw_solid_solution,
    "biphasic": _draw_biphasic,
    "solid_solution_biphasic": _draw_solid_solution_biphasic,
    "intermediate": _draw_nickelate,
    "three_phase": _draw_nickelate,
    "overlap": _draw_overlap,
    "texture": _draw_texture,
    "impurity": _draw_impurity,
}


def closest_strong_peaks(name1: str, name2: str, n_strong: int = 4) -> str:
    """The pair of strong reflections of two phases (CIF cells) closest in d, as text.

    Parameters
    ----------
    name1, name2 : str
        Short names of two bundled structures.
    n_strong : int
        Strongest reflections of each phase considered (multiplicity x |F|^2 x d^2).

    Returns
    -------
    str
        Both reflections with their d-spacings in angstrom.

    Examples
    --------
    >>> closest_strong_peaks("Al", "LiF")
    'Al (1 1 1) d = 2.338 A and LiF (1 1 1) d = 2.325 A'
    """
    tops = []
    for name in (name1, name2):
        m = physics.phase_model(powder.BUNDLED_STRUCTURES[name])
        d = m.d_a(phase_info(name)[3])
        strength = m.multiplicity * m.f_squared * d * d  # small-angle Lorentz ~ d^2
        order = sorted(range(len(d)), key=lambda i: (-strength[i], i))[:n_strong]
        tops.append([(tuple(int(v) for v in m.hkl[i]), float(d[i])) for i in order])
    (h1, d1), (h2, d2) = min(((a, b) for a in tops[0] for b in tops[1]),
                             key=lambda ab: abs(ab[0][1] - ab[1][1]) / ab[0][1])
    return (f"{name1} ({' '.join(map(str, h1))}) d = {d1:.3f} A and {name2} "
            f"({' '.join(map(str, h2))}) d = {d2:.3f} A")


def _replace(p: PhaseSpec, **kw) -> PhaseSpec:
    return replace(p, **kw)
