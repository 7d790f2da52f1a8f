"""Recipe section ``xps[]``: XPS series, charge correction, components, doublets and backgrounds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ...io.frames import expand_inputs
from ..schema import Context, InputFile, RecipeInvalid, load_document, setting

Shape = Literal["gl", "sgl", "pseudo_voigt", "voigt", "ds", "la"]
SHAPE_PARAMS = ("m", "eta", "lorentz_fwhm", "alpha", "beta", "gauss_fwhm")



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
    fwhm: float = setting(1.2, doc="Width parameter of the lineshape.", unit="eV", minimum=0.05)
    shape: Shape = setting("gl", doc="Lineshape: CasaXPS GL(m) product or SGL(m) sum, pseudo_voigt, voigt, ds (Doniach-Sunjic x Gaussian), la (asymmetric Lorentzian x Gaussian).")
    m: float | None = setting(None, doc="Lorentzian percentage of GL/SGL (0-100).", minimum=0, maximum=100)
    eta: float | None = setting(None, doc="Lorentzian fraction of pseudo_voigt.", minimum=0, maximum=1)
    lorentz_fwhm: float | None = setting(None, doc="Lorentzian FWHM of voigt and ds.", unit="eV", minimum=0)
    alpha: float | None = setting(None, doc="Asymmetry of ds (0-0.5) or high-BE exponent of la.", minimum=0)
    beta: float | None = setting(None, doc="Low-BE exponent of la.", minimum=0.55)
    gauss_fwhm: float | None = setting(None, doc="Gaussian broadening of la.", unit="eV", minimum=0)
    splitting: float | None = setting(None, doc="Doublet spin-orbit splitting, minor minus major line (default: tabulated for the element and level).", unit="eV", minimum=0)
    area_ratio: float | None = setting(None, doc="Doublet area ratio minor/major (default: degeneracy).", minimum=0, maximum=2)
    fwhm_ratio: float = setting(1.0, doc="Doublet FWHM of the minor line / major (Coster-Kronig broadening).", minimum=0.3, maximum=4)
    vary_splitting: bool = setting(False, doc="Refine the splitting (within max(0.3 eV, 10 %)).")
    vary_area_ratio: bool = setting(False, doc="Refine the area ratio (within 0.5-1.5 x its default).")
    center_bounds: tuple[float, float] | None = setting(None, doc="Allowed centre range (default: centre +- 1.5 eV).", unit="eV", length=2, increasing=True)
    fwhm_bounds: tuple[float, float] = setting((0.3, 4.0), doc="Allowed width range.", unit="eV", length=2, increasing=True)
    fix: list[str] = setting(default_factory=list, doc="Quantities held at their value: center, fwhm, area, m, ...")
    valence: float | None = setting(None, doc="Oxidation state this component stands for (mean valence, valence fractions).")
    sensitivity: float = setting(1.0, doc="Relative sensitivity factor dividing the area (atomic fractions).", minimum=0, exclusive_minimum=True)

    def check(self, ctx: Context):
        if self.kind == "doublet" and self.orbital is None:
            yield "orbital", f"doublet {self.name!r} needs orbital: p, d or f"
        if self.kind == "component" and (self.orbital or self.splitting or self.area_ratio):
            yield "kind", f"{self.name!r} sets doublet keys (orbital, splitting, area_ratio); give kind: doublet"

    def entry(self):
        from ...xps.fit import Component, Doublet  # lmfit takes a second to import: only here

        params = {k: getattr(self, k) for k in SHAPE_PARAMS if getattr(self, k) is not None}
        common = dict(name=self.name, center=self.center, shape=self.shape, fwhm=self.fwhm, shape_params=params,
                      center_bounds=tuple(self.center_bounds) if self.center_bounds else None,
                      fwhm_bounds=tuple(self.fwhm_bounds), vary={k: False for k in self.fix},
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
    background: Literal["shirley", "active_shirley", "linear", "tougaard", "none"] = setting("shirley", doc="Background: iterative Shirley (endpoint averages), Shirley fitted with the peaks, linear, Tougaard (universal cross-section), none.")
    avg_points: int = setting(5, doc="Points averaged at each end of the region for the background endpoints.", minimum=1)
    source: Literal["mono", "Al", "Mg"] = setting("mono", doc="X-ray source: monochromatic, or non-monochromatic Al/Mg Ka whose satellites are removed first.")
    charge: ChargeConfig | None = setting(default_factory=ChargeConfig, doc="Charge correction (null: none).")
    monte_carlo: int = setting(0, doc="Monte-Carlo refits of noisy copies for uncertainties that respect correlations (0: covariance only).", minimum=0, maximum=2000)
    transmission_exponent: float | None = setting(None, doc="Analyser transmission T(KE) = (KE / 1000 eV)^-x: areas are divided by it (with the sensitivity factors) before fractions (null: no correction).", minimum=0, maximum=2)
    voltages_v: list[float] | None = setting(None, doc="Voltage of each sample, in file order (default: the file's 'Cell voltage' variable when present).", unit="V")

    def check(self, ctx: Context):
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
        return lib_links + list(self.links)


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
