"""Recipe section ``xps[]``: XPS series, charge correction, components, doublets and backgrounds."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

from ...io.frames import expand_inputs
from ..schema import Context, InputFile, RecipeInvalid, load_document, setting

Shape = Literal["gl", "sgl", "pseudo_voigt", "voigt", "ds", "la", "lf"]
SHAPE_PARAMS = ("m", "eta", "lorentz_fwhm", "alpha", "beta", "gauss_fwhm", "damping_fwhm")
#: Quantities of every component, and those a doublet adds.
BASE_QUANTITIES = ("center", "fwhm", "area")
DOUBLET_QUANTITIES = ("splitting", "area_ratio", "fwhm_ratio")
_CASA_WIDTH_NOTE = ("CasaXPS's m and w of LA/LF (0-499) are widths in points of its own evaluation grid with no "
                    "published energy scale: give gauss_fwhm (and damping_fwhm for lf) in eV, or free them "
                    "(free: [gauss_fwhm])")


def _lineshape_params(shape: str) -> dict[str, tuple[float, float, float]]:
    from ...xps.lineshapes import LINESHAPES  # scipy's special functions: only when checked

    return LINESHAPES[shape].params


@dataclass(kw_only=True)
class LinkConfig:
    """Quantities of one component tied to another component (equal), or to an expression.

    Recipe section ``xps[].components[].link``: each key is a quantity of this component, its
    value the name of the component whose same quantity it takes (``fwhm: V5+ 2p3/2``), or an
    expression in the syntax of ``links`` (``center: center(C-C) + 1.5``).

    Examples
    --------
    >>> LinkConfig(fwhm="V5+ 2p3/2").texts("V4+ 2p3/2")
    ['fwhm(V4+ 2p3/2) = fwhm(V5+ 2p3/2)']
    >>> LinkConfig(center="center(C-C) + 1.5").texts("C-O")
    ['center(C-O) = center(C-C) + 1.5']
    """

    center: str | None = setting(None, doc="Centre: a component name (same centre) or an expression, e.g. 'center(C-C) + 1.5'.")
    fwhm: str | None = setting(None, doc="Width parameter: a component name or an expression.")
    area: str | None = setting(None, doc="Area: a component name or an expression, e.g. '0.2 * area(A)'.")
    m: str | None = setting(None, doc="GL/SGL Lorentzian percentage: a component name or an expression.")
    eta: str | None = setting(None, doc="pseudo_voigt Lorentzian fraction: a component name or an expression.")
    lorentz_fwhm: str | None = setting(None, doc="Lorentzian FWHM of voigt and ds: a component name or an expression.")
    alpha: str | None = setting(None, doc="ds asymmetry or la/lf high-BE exponent: a component name or an expression.")
    beta: str | None = setting(None, doc="la/lf low-BE exponent: a component name or an expression.")
    gauss_fwhm: str | None = setting(None, doc="Gaussian broadening of la/lf: a component name or an expression.")
    damping_fwhm: str | None = setting(None, doc="Damping width of lf: a component name or an expression.")
    splitting: str | None = setting(None, doc="Doublet splitting: a doublet name or an expression.")
    area_ratio: str | None = setting(None, doc="Doublet area ratio: a doublet name or an expression.")
    fwhm_ratio: str | None = setting(None, doc="Doublet width ratio: a doublet name or an expression.")

    def given(self) -> dict[str, str]:
        """The linked quantities and what they follow."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def texts(self, name: str) -> list[str]:
        """The links as ``links`` strings, for the component called ``name``."""
        return [f"{q}({name}) = {v}" if "(" in v else f"{q}({name}) = {q}({v})" for q, v in self.given().items()]



@dataclass(kw_only=True)
class ComponentConfig:
    """One component or spin-orbit doublet of a library.

    Recipe section ``xps[].components[]``, and ``components[]`` of a library file; its keys are
    the keyword arguments, each documented by its ``setting(doc=...)`` below and in
    ``docs/recipes.md``.

    Examples
    --------
    >>> from pathlib import Path
    >>> from xpipe.recipe.schema import Context, build
    >>> ctx = Context(base_dir=Path("."))
    >>> data = {"name": "V5+ 2p", "kind": "doublet", "orbital": "p", "center": 517.2}
    >>> cfg = build(ComponentConfig, data, "components[0]", 1, ctx)
    >>> cfg.fwhm, cfg.shape, cfg.fwhm_bounds  # eV, CasaXPS GL(m), eV
    (1.2, 'gl', (0.3, 4.0))
    >>> build(ComponentConfig, {**data, "orbital": None}, "components[0]", 1, ctx)
    >>> ctx.problems[0].message
    "doublet 'V5+ 2p' needs orbital: p, d or f"
    """

    name: str = setting(doc="Name used in links, results and figures (e.g. 'V5+ 2p', 'O lattice').")
    kind: Literal["component", "doublet"] = setting("component", doc="A single peak, or a spin-orbit doublet (two lines linked).")
    orbital: Literal["p", "d", "f"] | None = setting(None, doc="Doublet orbital: area ratio 1:2 (p), 2:3 (d), 3:4 (f) by degeneracy.")
    center: float = setting(doc="Binding energy (of the j = l + 1/2 line for a doublet).", unit="eV")
    fwhm: float = setting(1.2, doc="Width parameter of the lineshape (CasaXPS's FWHM F of GL, SGL, LA, LF).", unit="eV", minimum=0.05)
    shape: Shape = setting("gl", doc="Lineshape: CasaXPS GL(m) product or SGL(m) sum, pseudo_voigt, voigt, ds (Doniach-Sunjic x Gaussian), CasaXPS LA(alpha, beta, m) (asymmetric Lorentzian x Gaussian; LA(alpha, m) is LA(alpha, alpha, m)) or LF(alpha, beta, w, m) (LA with damped, finite tails).")
    m: float | None = setting(None, doc="Lorentzian percentage of GL/SGL, CasaXPS's GL(m)/SGL(m) (0-100). Not LA/LF's m: see gauss_fwhm.", minimum=0)
    eta: float | None = setting(None, doc="Lorentzian fraction of pseudo_voigt.", minimum=0, maximum=1)
    lorentz_fwhm: float | None = setting(None, doc="Lorentzian FWHM of voigt and ds.", unit="eV", minimum=0)
    alpha: float | None = setting(None, doc="Asymmetry of ds (0-0.5); CasaXPS's alpha of la (> 1/2) and lf (> 0): exponent of the high-BE side.", minimum=0)
    beta: float | None = setting(None, doc="CasaXPS's beta of la (> 1/2) and lf (> 0): exponent of the low-BE side.", minimum=0)
    gauss_fwhm: float | None = setting(None, doc="Gaussian broadening of la and lf (CasaXPS's m, here a FWHM in eV).", unit="eV", minimum=0)
    damping_fwhm: float | None = setting(None, doc="Width of lf's tail damping (CasaXPS's w, here a FWHM in eV: the smaller, the stronger).", unit="eV", minimum=0, exclusive_minimum=True)
    splitting: float | None = setting(None, doc="Doublet spin-orbit splitting, minor minus major line (default: tabulated for the element and level).", unit="eV", minimum=0)
    area_ratio: float | None = setting(None, doc="Doublet area ratio minor/major (default: degeneracy).", minimum=0, maximum=2)
    fwhm_ratio: float = setting(1.0, doc="Doublet FWHM of the minor line / major (Coster-Kronig broadening).", minimum=0.3, maximum=4)
    vary_splitting: bool = setting(False, doc="Refine the splitting (within max(0.3 eV, 10 %)).")
    vary_area_ratio: bool = setting(False, doc="Refine the area ratio (within 0.5-1.5 x its default).")
    center_bounds: tuple[float, float] | None = setting(None, doc="Allowed centre range (default: centre +- 1.5 eV).", unit="eV", length=2, increasing=True)
    fwhm_bounds: tuple[float, float] = setting((0.3, 4.0), doc="Allowed width range.", unit="eV", length=2, increasing=True)
    fix: list[str] = setting(default_factory=list, doc="Quantities held at their value: center, fwhm, area, a lineshape parameter (m, alpha, ...), and for a doublet splitting, area_ratio, fwhm_ratio.")
    free: list[str] = setting(default_factory=list, doc="Quantities refined although held by default: lineshape parameters (m, eta, alpha, beta, gauss_fwhm, ...) and a doublet's splitting, area_ratio, fwhm_ratio.")
    link: LinkConfig | None = setting(None, doc="Quantities that follow another component: e.g. {fwhm: 'V5+ 2p3/2'} (the same width) or {center: 'center(C-C) + 1.5'}.")
    valence: float | None = setting(None, doc="Oxidation state this component stands for (mean valence, valence fractions).")
    sensitivity: float = setting(1.0, doc="Relative sensitivity factor dividing the area (atomic fractions).", minimum=0, exclusive_minimum=True)

    def quantities(self) -> list[str]:
        """Every quantity of this component that fix, free and link may name."""
        return [*BASE_QUANTITIES, *_lineshape_params(self.shape)] + (list(DOUBLET_QUANTITIES) if self.kind == "doublet" else [])

    def check(self, ctx: Context):
        if self.kind == "doublet" and self.orbital is None:
            yield "orbital", f"doublet {self.name!r} needs orbital: p, d or f"
        if self.kind == "component" and (self.orbital or self.splitting or self.area_ratio):
            yield "kind", f"{self.name!r} sets doublet keys (orbital, splitting, area_ratio); give kind: doublet"
        yield from self._check_shape()
        allowed = self.quantities()
        for key in ("fix", "free"):
            for i, q in enumerate(getattr(self, key)):
                if q not in allowed:
                    yield f"{key}[{i}]", f"{q!r} is not a quantity of {self.name!r} ({self.shape}); expected one of {', '.join(allowed)}"
        both = sorted(set(self.fix) & set(self.free))
        if both:
            yield "free", f"{', '.join(both)} both fixed and freed"
        for q in (self.link.given() if self.link is not None else {}):
            if q not in allowed:
                yield f"link.{q}", f"{q!r} is not a quantity of {self.name!r} ({self.shape}); expected one of {', '.join(allowed)}"

    def _check_shape(self):
        """The lineshape parameters against the shape's own ranges, as the fit would check them."""
        spec = _lineshape_params(self.shape)
        for k in SHAPE_PARAMS:
            val = getattr(self, k)
            if val is None:
                continue
            if k not in spec:
                extra = f"; {_CASA_WIDTH_NOTE}" if k == "m" and self.shape in ("la", "lf") else ""
                yield k, f"{k} is not a parameter of the {self.shape} lineshape (its parameters: {', '.join(spec) or 'none'}){extra}"
                continue
            _, lo, hi = spec[k]
            if not lo <= val <= hi:
                why = (" (LA's area is infinite for exponents of 1/2 or less: shape lf has finite tails for any "
                       "exponent > 0)" if self.shape == "la" and k in ("alpha", "beta") and val <= 0.5 else "")
                yield k, f"{self.shape} parameter {k} = {val:g} outside its range [{lo:g}, {hi:g}]{why}"

    def link_texts(self) -> list[str]:
        """This component's ``link`` entries as ``links`` strings."""
        return self.link.texts(self.name) if self.link is not None else []

    def entry(self):
        from ...xps.fit import Component, Doublet  # lmfit takes a second to import: only here

        params = {k: getattr(self, k) for k in SHAPE_PARAMS if getattr(self, k) is not None}
        common = dict(name=self.name, center=self.center, shape=self.shape, fwhm=self.fwhm, shape_params=params,
                      center_bounds=tuple(self.center_bounds) if self.center_bounds else None,
                      fwhm_bounds=tuple(self.fwhm_bounds), vary={**{k: True for k in self.free}, **{k: False for k in self.fix}},
                      label_valence=self.valence, sensitivity=self.sensitivity)
        if self.kind == "doublet":
            return Doublet(orbital=self.orbital, splitting=self.splitting, area_ratio=self.area_ratio,
                           fwhm_ratio=self.fwhm_ratio, vary_splitting=self.vary_splitting,
                           vary_area_ratio=self.vary_area_ratio, **common)
        return Component(**common)


@dataclass(kw_only=True)
class LibraryConfig:
    """A component library file: components and the links between them.

    The top level of the file ``xps[].library`` names; its keys are the keyword arguments, each
    documented by its ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> from pathlib import Path
    >>> from xpipe.recipe.schema import Context, build
    >>> data = {"components": [{"name": "C-C", "center": 284.8}, {"name": "C-O", "center": 286.3}],
    ...         "links": ["fwhm(C-O) = fwhm(C-C)"]}
    >>> lib = build(LibraryConfig, data, "", 1, Context(base_dir=Path(".")))
    >>> [c.name for c in lib.components], lib.links
    (['C-C', 'C-O'], ['fwhm(C-O) = fwhm(C-C)'])
    """

    description: str | None = setting(None, doc="What the library models and where its values come from.")
    components: list[ComponentConfig] = setting(doc="Components and doublets.")
    links: list[str] = setting(default_factory=list, doc="Constraints, e.g. 'fwhm(V4+ 2p) = fwhm(V5+ 2p)', 'center(B) = center(A) + 1.5', 'area(S) = 0.2 * area(A)'.")


@dataclass(kw_only=True)
class ChargeConfig:
    """Charge correction from a reference line fitted in the data of each sample.

    Recipe section ``xps[].charge``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> cfg = ChargeConfig()
    >>> cfg.block, cfg.reference, cfg.model()  # no library: the default reference model
    ('C 1s', 'C 1s C-C', (None, ()))
    """

    block: str | None = setting("C 1s", doc="Block (region label) of the same file holding the reference line; null: the fitted region itself.")
    reference: str = setting("C 1s C-C", doc="Reference line: 'C 1s C-C' (284.8 eV), 'O 1s lattice' (530.0 eV), 'Au 4f7/2' (83.96 eV), or a name with energy_ev.")
    energy_ev: float | None = setting(None, doc="Reference binding energy (default: the tabulated value of the reference).", unit="eV")
    window_ev: tuple[float, float] | None = setting(None, doc="Fit window of the reference line (default: around the reference).", unit="eV", length=2, increasing=True)
    shift_ev: float | None = setting(None, doc="A fixed shift for every sample instead of fitting a reference.", unit="eV")
    required: bool = setting(True, doc="A sample whose reference cannot be fitted fails (false: it is fitted uncorrected and flagged).")
    library: InputFile | None = setting(None, doc="Component library YAML of the reference region (e.g. xps/c1s.yaml with carbon black and binder lines) instead of the default model; the reference line is the component named like the end of 'reference' (e.g. 'C-C'), else the first one.")

    def check(self, ctx: Context):
        if self.library is not None:
            try:
                self._library = load_library(Path(self.library))
            except RecipeInvalid as exc:
                yield "library", exc.report().replace("\n", "; ")

    def model(self):
        """(model entries, links) of the library, or (None, ()) for the default model."""
        if self.library is None:
            return None, ()
        lib = getattr(self, "_library", None) or load_library(Path(self.library))
        return [c.entry() for c in lib.components], list(lib.links)


_QREF = re.compile(r"^\s*([A-Za-z_]\w*)\s*\((.+)\)\s*$")
#: Tougaard cross-section forms and material classes (classes: Tougaard, Surf. Interface Anal. 25 (1997) 137).
CROSS_SECTIONS = ("universal", "three_parameter", "polymer", "silicon_dioxide", "silicon", "germanium")


@dataclass(kw_only=True)
class TougaardConfig:
    """The inelastic cross-section of the Tougaard background, K(T) in eV^-1 for a loss T in eV.

    Recipe section ``xps[].tougaard`` (with ``background: tougaard``). ``universal`` is
    ``B T / (C + T^2)^2`` (CasaXPS's "U 2 Tougaard"), ``three_parameter`` is
    ``B T / ((C - T^2)^2 + D T^2)`` (CasaXPS's "U 3 Tougaard"), and a material class takes C
    and D from Tougaard, Surf. Interface Anal. 25 (1997) 137. To reproduce a CasaXPS region,
    copy its cross-section numbers: its region line stores B, then C with a minus sign (give C
    positive here), then D.

    Examples
    --------
    >>> TougaardConfig().options()  # the universal cross-section, B scaled to the data
    {'B': 2866.0, 'C': 1643.0, 'D': 0.0, 'C_sign': 1, 'fit_B': True}
    >>> TougaardConfig(b_ev2=786.7, c_ev2=450.0).options()  # a CasaXPS U 2 Tougaard region
    {'B': 786.7, 'C': 450.0, 'D': 0.0, 'C_sign': 1, 'fit_B': False}
    >>> TougaardConfig(cross_section="three_parameter", b_ev2=434.0, c_ev2=551.0, d_ev2=436.0).options()["C_sign"]
    -1
    """

    cross_section: Literal["universal", "three_parameter", "polymer", "silicon_dioxide", "silicon", "germanium"] = setting(
        "universal", doc="universal: B T / (C + T^2)^2 (CasaXPS 'U 2 Tougaard'); three_parameter: B T / ((C - T^2)^2 + D T^2) (CasaXPS 'U 3 Tougaard'); or a material class of Tougaard (1997), which sets C and D.")
    b_ev2: float | None = setting(None, doc="B (null: scaled so that the background meets the data at the high-BE end, the mean of avg_points points).", unit="eV^2", minimum=0, exclusive_minimum=True)
    c_ev2: float | None = setting(None, doc="C (default: 1643 eV^2 for universal; required for three_parameter). CasaXPS writes it with a minus sign: give it positive.", unit="eV^2", minimum=0, exclusive_minimum=True)
    d_ev2: float | None = setting(None, doc="D of three_parameter (required there).", unit="eV^2", minimum=0)

    def check(self, ctx: Context):
        if self.cross_section == "three_parameter" and (self.c_ev2 is None or self.d_ev2 is None):
            yield "cross_section", "three_parameter needs c_ev2 and d_ev2"
        if self.cross_section == "universal" and self.d_ev2 is not None:
            yield "d_ev2", "D belongs to cross_section: three_parameter (universal is B T / (C + T^2)^2)"
        if self.cross_section not in ("universal", "three_parameter") and (self.c_ev2 is not None or self.d_ev2 is not None):
            yield "cross_section", f"the {self.cross_section} class sets C and D; give cross_section: three_parameter to set them"

    def options(self) -> dict:
        """Keyword arguments of :func:`xpipe.xps.backgrounds.tougaard` (``background_options``)."""
        out: dict = {"B": 2866.0 if self.b_ev2 is None else self.b_ev2}
        if self.cross_section == "universal":
            out.update(C=1643.0 if self.c_ev2 is None else self.c_ev2, D=0.0, C_sign=1)
        elif self.cross_section == "three_parameter":
            out.update(C=self.c_ev2, D=self.d_ev2, C_sign=-1)
        else:
            out["material"] = self.cross_section
        out["fit_B"] = self.b_ev2 is None
        return out


def pick_block(spectra, block: str | None, path: str):
    """The spectrum of a file that ``block`` names (a case-insensitive substring of its label or
    region), or its only one; ValueError naming the file and its blocks otherwise.

    Parameters
    ----------
    spectra : list
        The file's spectra (anything with ``label`` and ``region``).
    block : str or None
        The block to find; None: the file must hold one block.
    path : str
        The file, for the message.

    Returns
    -------
    object
        The first matching spectrum.

    Examples
    --------
    >>> from types import SimpleNamespace as S
    >>> spectra = [S(label="V 2p", region="V 2p"), S(label="O 1s", region=None)]
    >>> pick_block(spectra, "o 1S", "a.vms").label
    'O 1s'
    >>> pick_block(spectra, "C 1s", "a.vms")
    Traceback (most recent call last):
    ...
    ValueError: a.vms: no block matching 'C 1s'; the file holds 'V 2p', 'O 1s'
    """
    if block is None:
        if len(spectra) == 1:
            return spectra[0]
        labels = ", ".join(repr(s.label) for s in spectra)
        raise ValueError(f"{path}: {len(spectra)} blocks ({labels}); set 'block' to choose one")
    key = block.lower()
    hits = [s for s in spectra if key in s.label.lower() or key in (s.region or "").lower()]
    if not hits:
        labels = ", ".join(repr(s.label) for s in spectra)
        raise ValueError(f"{path}: no block matching {block!r}; the file holds {labels}")
    return hits[0]


@dataclass(kw_only=True)
class XpsSeriesConfig:
    """One XPS series: one region of several samples, fitted with one component library.

    Recipe section ``xps[]``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from xpipe.recipe.schema import Context, build
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("ocv.vms", "charged.vms"):
    ...     _ = (folder / name).write_text("")
    >>> data = {"name": "V 2p", "files": "*.vms", "region_ev": [510, 535],
    ...         "components": [{"name": "V5+", "center": 517.2}, {"name": "V4+", "center": 516.0}],
    ...         "links": ["fwhm(V4+) = fwhm(V5+)"]}
    >>> cfg = build(XpsSeriesConfig, data, "xps[0]", 1, Context(base_dir=folder))
    >>> cfg.region_ev, cfg.background, cfg.charge.reference
    ((510.0, 535.0), 'shirley', 'C 1s C-C')
    >>> [c.name for c in cfg.model_configs()], cfg.all_links()
    (['V5+', 'V4+'], ['fwhm(V4+) = fwhm(V5+)'])
    """

    name: str = setting(doc="Series name, used under /entry/xps/<name> and in file names.")
    files: str | list[str] = setting(doc="Spectra files (VAMAS .vms/.npl, SPECS .xy, two-column text): a glob or a list, one sample each.")
    block: str | None = setting(None, doc="Block (region label) to fit, matched case-insensitively as a substring (default: the only block).")
    region_ev: tuple[float, float] = setting(doc="Fit range of binding energy (after charge correction).", unit="eV", length=2, increasing=True)
    library: InputFile | None = setting(None, doc="Component library YAML (see recipes/xps/), relative to the recipe.")
    components: list[ComponentConfig] | None = setting(None, doc="Components given inline instead of a library.")
    links: list[str] = setting(default_factory=list, doc="More constraints, added to the library's.")
    shared: list[str] = setting(default_factory=list, doc="Quantities with one value for the whole series (joint fit), e.g. 'fwhm(V5+ 2p)', 'splitting(V5+ 2p)'.")
    fix: list[str] = setting(default_factory=list, doc="Quantities held at their value, added to the components' own, e.g. 'fwhm(V5+ 2p)' (a library's component held without editing the library).")
    free: list[str] = setting(default_factory=list, doc="Quantities refined although the components hold them, e.g. 'm(V5+ 2p)', 'gauss_fwhm(W 4f)'; wins over a component's fix.")
    background: Literal["shirley", "active_shirley", "linear", "tougaard", "none"] = setting("shirley", doc="Background: iterative Shirley (endpoint averages), Shirley fitted with the peaks, linear, Tougaard (cross-section in 'tougaard', default universal), none.")
    tougaard: TougaardConfig | None = setting(None, doc="Cross-section of the Tougaard background (null: universal, B scaled to the data); e.g. {b_ev2: 786.7, c_ev2: 450} for a CasaXPS 'U 2 Tougaard' region.")
    avg_points: int = setting(5, doc="Points averaged at each end of the region for the background endpoints (CasaXPS's Av Width w averages 2w + 1 points).", minimum=1)
    source: Literal["mono", "Al", "Mg"] = setting("mono", doc="X-ray source: monochromatic, or non-monochromatic Al/Mg Ka whose satellites are removed first.")
    charge: ChargeConfig | bool | None = setting(default_factory=ChargeConfig, doc="Charge correction; false: none (an empty key or null takes the default, a C 1s C-C reference).")
    monte_carlo: int = setting(0, doc="Monte-Carlo refits of noisy copies for uncertainties that respect correlations (0: covariance only).", minimum=0, maximum=2000)
    transmission_exponent: float | None = setting(None, doc="Analyser transmission T(KE) = (KE / 1000 eV)^-x: areas are divided by it (with the sensitivity factors) before fractions (null: no correction).", minimum=0, maximum=2)
    voltages_v: list[float] | None = setting(None, doc="Voltage of each sample, in file order (default: the file's 'Cell voltage' variable when present).", unit="V")

    def check(self, ctx: Context):
        if self.charge is True:
            yield "charge", "expected a charge section (e.g. {shift_ev: -0.5}) or false for no correction, found true"
            return
        if self.charge is False:
            self.charge = None  # no correction: what the stage and the effective settings see
        if (self.library is None) == (self.components is None):
            yield "library", "give a component library file or inline components (one of them)"
            return
        try:
            self._paths = [r.path for r in expand_inputs(self.files, ctx.base_dir)]
        except (FileNotFoundError, ValueError) as exc:
            yield "files", str(exc)
            return
        if self.voltages_v is not None and len(self.voltages_v) != len(self._paths):
            yield "voltages_v", f"{len(self.voltages_v)} voltages for {len(self._paths)} files"
        if self.library is not None:
            try:
                self._library = load_library(Path(self.library))
            except RecipeInvalid as exc:
                yield "library", exc.report().replace("\n", "; ")
                return
        comps = self.model_configs()
        names = [c.name for c in comps]
        if len(set(names)) != len(names):
            yield "components", "component names must be unique"
        if self.tougaard is not None and self.background != "tougaard":
            yield "tougaard", f"a Tougaard cross-section is given but background is {self.background!r}; set background: tougaard"
        yield from self._check_overrides(comps)
        yield from self._check_blocks()

    def _check_overrides(self, comps: list[ComponentConfig]):
        """Series ``fix``/``free`` name quantities of components the model has."""
        by_name = {" ".join(c.name.split()): c for c in comps}
        for key in ("fix", "free"):
            for i, text in enumerate(getattr(self, key)):
                m = _QREF.match(text) if isinstance(text, str) else None
                comp = by_name.get(" ".join(m.group(2).split())) if m else None
                if m is None:
                    yield f"{key}[{i}]", f"{text!r}: expected 'quantity(component)', e.g. 'fwhm(V5+ 2p)'"
                elif comp is None:
                    yield f"{key}[{i}]", f"{text!r}: no component {m.group(2)!r}; the model has {', '.join(by_name)}"
                elif m.group(1) not in comp.quantities():
                    yield f"{key}[{i}]", f"{text!r}: {m.group(1)!r} is not a quantity of {comp.name!r} ({comp.shape}); expected one of {', '.join(comp.quantities())}"

    def _check_blocks(self):
        """Each readable file holds the block to fit and, when charge correction fits a
        reference there, the reference block: what the run would otherwise fail on."""
        from ...xps.readers import read_xps  # the readers: only when a recipe is checked

        ch = self.charge
        need_ref = ch is not None and ch.shift_ev is None and ch.block is not None and ch.required
        for path in self._paths:
            try:
                spectra = read_xps(path)
            except Exception:  # an unreadable file is reported by the run, file by file
                continue
            for key, block in (("block", self.block), ("charge.block", ch.block if need_ref else None)):
                if key == "charge.block" and block is None:
                    continue
                try:
                    pick_block(spectra, block, str(path))
                except ValueError as exc:
                    hint = (" (charge: {shift_ev: ...} sets a fixed shift, charge: false corrects nothing, "
                            "required: false fits such files uncorrected)" if key == "charge.block" else "")
                    yield key, f"{exc}{hint}"

    def model_configs(self) -> list[ComponentConfig]:
        if self.components is not None:
            return list(self.components)
        lib = getattr(self, "_library", None) or load_library(Path(self.library))
        return list(lib.components)

    def all_links(self) -> list[str]:
        lib_links = []
        if self.library is not None:
            lib = getattr(self, "_library", None) or load_library(Path(self.library))
            lib_links = list(lib.links)
        comp_links = [t for c in self.model_configs() for t in c.link_texts()]
        return lib_links + comp_links + list(self.links)

    def entries(self) -> list:
        """The fit model: each component's entry, with the series' ``fix`` and ``free`` applied."""
        out = [c.entry() for c in self.model_configs()]
        by_name = {" ".join(e.name.split()): e for e in out}
        for key, vary in (("fix", False), ("free", True)):
            for text in getattr(self, key):
                m = _QREF.match(text)
                by_name[" ".join(m.group(2).split())].vary[m.group(1)] = vary
        return out


def load_library(path: Path) -> LibraryConfig:
    r"""Read and validate a component library; :class:`RecipeInvalid` names the file, key and line.

    Parameters
    ----------
    path : Path
        The library YAML file (see ``recipes/xps/``).

    Returns
    -------
    LibraryConfig
        Its components and links.

    Raises
    ------
    RecipeInvalid
        Every problem of the file, with key paths and lines.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp(), "c1s.yaml")
    >>> _ = path.write_text("components:\n  - name: C-C\n    center: 284.8\n    fwhm: 1.0\n")
    >>> lib = load_library(path)
    >>> lib.components[0].name, lib.components[0].center, lib.links
    ('C-C', 284.8, [])
    >>> _ = path.write_text("components:\n  - name: C-C\n    centre: 284.8\n")
    >>> try:
    ...     load_library(path)
    ... except RecipeInvalid as exc:
    ...     print([f"{p.line} {p.key}" for p in exc.problems])
    ['2 components[0].center', '3 components[0].centre']
    """
    return load_document(LibraryConfig, path, "component library")[0]
