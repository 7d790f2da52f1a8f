"""Recipe section ``xas[]``: XAS series, their standards, XANES edges, valence and EXAFS shells."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ...io.frames import expand_inputs
from ..schema import Context, InputFile, setting

if TYPE_CHECKING:
    from ...xas.series import SpectrumResult  # annotations only: no XAS import at run time


@dataclass(kw_only=True)
class StandardConfig:
    """A reference standard of declared valence.

    Recipe section ``xas[].standards[]``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> import os, tempfile
    >>> from pathlib import Path
    >>> from xpipe.recipe.schema import Context, build
    >>> folder = tempfile.mkdtemp()
    >>> _ = Path(folder, "v2o3.xdi").write_text("")
    >>> data = {"name": "V2O3", "file": "v2o3.xdi", "valence": 3}
    >>> cfg = build(StandardConfig, data, "xas[0].standards[0]", 1, Context(base_dir=Path(folder)))
    >>> cfg.valence, cfg.file == os.path.join(folder, "v2o3.xdi")
    (3.0, True)
    """

    name: str = setting(doc="Label of the standard (e.g. 'V2O3').")
    file: InputFile = setting(doc="Scan file of the standard (XDI, column file, Athena .prj, NeXus).")
    valence: float = setting(doc="Formal valence of the absorber in the standard.", minimum=-4, maximum=9)
    group: int | str | None = setting(None, doc="Group of an Athena project (.prj) to use: its label (e.g. 'FeO') or its index (0 = first); required when the project holds several groups, which are never merged.")


@dataclass(kw_only=True)
class SpectrumConfig:
    """One state of the series; several files are repeat scans, merged.

    Recipe section ``xas[].spectra[]``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> from pathlib import Path
    >>> from xpipe.recipe.schema import Context, build
    >>> data = {"files": "ocv_*.xdi", "voltage_v": 3}
    >>> cfg = build(SpectrumConfig, data, "xas[0].spectra[0]", 1, Context(base_dir=Path(".")))
    >>> cfg.files, cfg.voltage_v, cfg.label
    ('ocv_*.xdi', 3.0, None)
    """

    files: str | list[str] = setting(doc="Scan file(s) of this state: a path, a glob or a list; repeats are merged.")
    label: str | None = setting(None, doc="Label (default: the first file's name).")
    voltage_v: float | None = setting(None, doc="Cell voltage of the state (ex situ samples).", unit="V")
    time_s: float | None = setting(None, doc="Time of the state on the experiment clock (default: scan start from the file).", unit="s")
    group: int | str | None = setting(None, doc="Group of an Athena project (.prj) to use: its label (e.g. 'FeO') or its index (0 = first); required when a project holds several groups, which are never merged. The same group is taken from every file of the state.")


@dataclass(kw_only=True)
class NormConfig:
    """Larch pre_edge ranges (relative to E0) and orders, fixed for the whole series.

    Recipe section ``xas[].normalisation``; its keys are the keyword arguments, each documented by
    its ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> cfg = NormConfig()
    >>> cfg.pre1_ev, cfg.pre2_ev, cfg.nnorm
    (-100.0, -30.0, 2)
    """

    pre1_ev: float | None = setting(-100.0, doc="Start of the pre-edge line fit (null: resolved by Larch on the first spectrum, then fixed).", unit="eV")
    pre2_ev: float | None = setting(-30.0, doc="End of the pre-edge line fit.", unit="eV")
    norm1_ev: float | None = setting(60.0, doc="Start of the post-edge polynomial fit.", unit="eV")
    norm2_ev: float | None = setting(300.0, doc="End of the post-edge polynomial fit.", unit="eV")
    nnorm: int | None = setting(2, doc="Order of the post-edge polynomial (0-3).", minimum=0, maximum=3)
    nvict: int | None = setting(0, doc="Victoreen exponent of the pre-edge fit (mu * E^nvict).", minimum=0, maximum=4)


@dataclass(kw_only=True)
class EdgeConfig:
    """How the edge position and the pre-edge peak are measured.

    Recipe section ``xas[].edge_position``; its keys are the keyword arguments, each documented by
    its ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> from pathlib import Path
    >>> from xpipe.recipe.schema import Context, build
    >>> data = {"method": "derivative", "pre_edge_window_ev": [-2, 6]}
    >>> cfg = build(EdgeConfig, data, "xas[0].edge_position", 1, Context(base_dir=Path(".")))
    >>> cfg.pre_edge_window_ev, cfg.main_edge_window_ev
    ((-2.0, 6.0), None)
    """

    method: Literal["half_height", "derivative", "second_derivative", "fixed"] = setting(
        "half_height", doc="Edge position: fraction of the edge step (last crossing below the white line), maximum of the first derivative or zero of the second inside the main-edge window, or a fixed energy.")
    fraction: float = setting(0.5, doc="Fraction of the edge step for 'half_height'.", minimum=0.05, maximum=0.95)
    fixed_e0_ev: float | None = setting(None, doc="E0 for normalisation and for the 'fixed' method (default: main-edge derivative maximum of each spectrum).", unit="eV")
    pre_edge_window_ev: tuple[float, float] | None = setting(None, doc="Pre-edge window, relative to the tabulated edge: where the peaks lie, fitted (number by BIC) on a line plus the arctangent tail of the main edge from 4 eV below the window to below the rising edge (null: from the element and edge, -(3 eV + 4 core-hole widths) to +(8 eV + 2 widths), e.g. -8..+10.5 eV for Fe K).", unit="eV", length=2, increasing=True)
    main_edge_window_ev: tuple[float, float] | None = setting(None, doc="Main-edge window, relative to the tabulated edge: derivative search (a pre-edge peak inside is passed over) and half-height crossing (null: from the element and edge, -(3 eV + 4 core-hole widths) to +45 eV, e.g. -8..+45 eV for Fe K, so a metal foil's edge is inside).", unit="eV", length=2, increasing=True)
    smooth_ev: float = setting(0.5, doc="Gaussian smoothing (sigma) before derivatives.", unit="eV", minimum=0.0)


@dataclass(kw_only=True)
class CalibrationConfig:
    """Energy calibration from the reference-foil channel.

    Recipe section ``xas[].calibration``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> cfg = CalibrationConfig()
    >>> cfg.reference, cfg.window_ev
    ('auto', (-15.0, 15.0))
    """

    reference: Literal["auto", "required", "none"] = setting("auto", doc="'auto': calibrate where the file has a reference channel, flag the rest; 'required': a scan without one fails; 'none': no calibration.")
    window_ev: tuple[float, float] = setting((-15.0, 15.0), doc="Alignment window around the tabulated foil edge.", unit="eV", length=2, increasing=True)


@dataclass(kw_only=True)
class ValenceConfig:
    """How valence is obtained from the standards.

    Recipe section ``xas[].valence``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> from pathlib import Path
    >>> from xpipe.recipe.schema import Context, build
    >>> ctx = Context(base_dir=Path("."))
    >>> build(ValenceConfig, {"method": "lfc"}, "xas[0].valence", 1, ctx)
    >>> ctx.problems[0].message
    "expected one of 'calibration', 'lcf', 'both', found 'lfc' (str) (did you mean 'lcf'?)"
    >>> ValenceConfig().model, ValenceConfig().max_standard_gap
    ('piecewise_linear', 1.0)
    """

    method: Literal["calibration", "lcf", "both"] = setting("calibration", doc="Calibration curve of the standards, linear combination fit of reference spectra, or both (see report).")
    report: Literal["calibration", "lcf"] = setting("calibration", doc="With method 'both': which route gives the reported valence (the other is kept beside it). LCF suits a two-phase mixture of known end members; the edge position of a mixture is not linear in its fraction.")
    feature: Literal["edge_energy_ev", "pre_edge_area", "pre_edge_centroid_ev"] = setting("edge_energy_ev", doc="What the calibration maps to valence: the edge position (by edge_position.method), or the pre-edge peak's area or centroid.")
    model: Literal["piecewise_linear", "pchip", "linear", "quadratic"] = setting("piecewise_linear", doc="Calibration curve: straight segments between neighbouring standards (never beyond the valences of the two around a sample), a monotone piecewise cubic through the standards (bends near the outer standards), a weighted least-squares straight line, or a monotone least-squares parabola (four standards or more). See docs/xas_valence.md for the leave-one-out evidence.")
    max_standard_gap: float = setting(1.0, doc="A spectrum whose calibration standards on either side differ by more valence units than this is flagged sparse_standards.", minimum=0.1)
    standards: list[str] | None = setting(None, doc="Names of the standards used for the calibration (default: all).")
    lcf_references: list[str] | None = setting(None, doc="Names of the standards used as LCF components (default: all).")
    lcf_window_ev: tuple[float, float] = setting((-20.0, 40.0), doc="LCF (and PCA) range relative to the tabulated edge.", unit="eV", length=2, increasing=True)
    pca: bool = setting(True, doc="Count the components of the series by PCA (three spectra or more).")


@dataclass(kw_only=True)
class ShellFitConfig:
    """EXAFS shell fit with FEFF paths.

    Recipe section ``xas[].exafs.fit``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> cfg = ShellFitConfig(feff="feff.inp")
    >>> cfg.rmin_a, cfg.rmax_a, cfg.shared
    (1.0, 3.2, ['s02'])
    """

    feff: InputFile = setting(doc="feff.inp, or a CIF turned into FEFF input with Larch.")
    absorber: str | None = setting(None, doc="Absorbing element for a CIF (default: the series element).")
    paths: list[int] | None = setting(None, doc="FEFF path indices to fit (default: single-scattering paths up to rmax_a).")
    rmin_a: float = setting(1.0, doc="Fit range in R, start.", unit="angstrom", minimum=0.0)
    rmax_a: float = setting(3.2, doc="Fit range in R, end; also the longest path used by default.", unit="angstrom", minimum=0.5)
    shared: list[str] = setting(default_factory=lambda: ["s02"], doc="Parameters shared by all spectra of the series (s02, de0, dr, sigma2).")
    fixed_s02: float | None = setting(None, doc="Fix S0^2 at this value instead of refining it.", minimum=0.1, maximum=1.5)
    refine_n: bool = setting(False, doc="Refine coordination numbers from the FEFF degeneracy (needs fixed_s02: N and S0^2 are fully correlated).")
    feff_version: Literal["feff6l", "feff8l"] = setting("feff6l", doc="FEFF shipped with xraylarch that computes the paths.")

    def check(self, ctx: Context):
        if self.refine_n and self.fixed_s02 is None:
            yield "refine_n", "refining N needs fixed_s02 (N and S0^2 are fully correlated)"
    spectra: list[str] | None = setting(None, doc="Labels of the spectra to fit (default: all, standards excluded).")


@dataclass(kw_only=True)
class ExafsConfig:
    """chi(k) with autobk, Fourier transform, and optionally a shell fit.

    Recipe section ``xas[].exafs``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> cfg = ExafsConfig()
    >>> cfg.kweight, cfg.kmin, cfg.kmax, cfg.window
    (2, 3.0, 12.0, 'hanning')
    """

    rbkg_a: float = setting(1.0, doc="autobk Rbkg.", unit="angstrom", minimum=0.3)
    kweight: int = setting(2, doc="k-weight of the transform and the fit.", minimum=0, maximum=3)
    kmin: float = setting(3.0, doc="Transform k range, start.", unit="1/angstrom", minimum=0.0)
    kmax: float = setting(12.0, doc="Transform k range, end.", unit="1/angstrom", minimum=1.0)
    dk: float = setting(1.0, doc="Window taper.", unit="1/angstrom", minimum=0.0)
    window: Literal["hanning", "kaiser", "gaussian", "sine", "welch", "parzen"] = setting("hanning", doc="Transform window.")
    fit: ShellFitConfig | None = setting(None, doc="Shell fit (see xas[].exafs.fit).")


@dataclass(kw_only=True)
class XasSeriesConfig:
    """One XAS series: spectra of one absorption edge, its standards and the analysis.

    Recipe section ``xas[]``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from xpipe.recipe.schema import Context, build
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("v2o3.xdi", "v2o5.xdi", "ocv.xdi"):
    ...     _ = (folder / name).write_text("")
    >>> data = {"name": "V K", "element": "V", "files": ["ocv.xdi"],
    ...         "standards": [{"name": "V2O3", "file": "v2o3.xdi", "valence": 3},
    ...                       {"name": "V2O5", "file": "v2o5.xdi", "valence": 5}]}
    >>> cfg = build(XasSeriesConfig, data, "xas[0]", 1, Context(base_dir=folder))
    >>> cfg.edge, [s.valence for s in cfg.standards], cfg.valence.method
    ('K', [3.0, 5.0], 'calibration')
    """

    name: str = setting(doc="Series name, used under /entry/xas/<name> and in file names.")
    element: str = setting(doc="Absorbing element (e.g. 'V', 'Fe').")
    edge: str = setting("K", doc="Absorption edge (K, L3, ...).")
    files: str | list[str] | None = setting(None, doc="Spectra, one file per state: a glob or a list (or give 'spectra').")
    spectra: list[SpectrumConfig] | None = setting(None, doc="Spectra state by state (repeats merged, voltages, times).")
    standards: list[StandardConfig] = setting(default_factory=list, doc="Reference standards of declared valence.")
    calibration: CalibrationConfig = setting(default_factory=CalibrationConfig, doc="Foil calibration.")
    deglitch: bool = setting(True, doc="Replace isolated single-point spikes (recorded per spectrum).")
    deglitch_threshold: float = setting(20.0, doc="Spike threshold in robust standard deviations of the local misfit.", minimum=3.0)
    merge_reject: float = setting(5.0, doc="Leave a repeat out of a merge when its deviation exceeds this many times the median deviation.", minimum=1.0)
    normalisation: NormConfig = setting(default_factory=NormConfig, doc="Normalisation ranges (see xas[].normalisation).")
    edge_position: EdgeConfig = setting(default_factory=EdgeConfig, doc="Edge and pre-edge measurement.")
    valence: ValenceConfig = setting(default_factory=ValenceConfig, doc="Valence from standards.")
    exafs: ExafsConfig | None = setting(None, doc="EXAFS (see xas[].exafs).")
    athena: Literal["auto", "always", "never"] = setting("auto", doc="Write the processed spectra as an Athena project (xas_<name>.prj): 'auto' up to 200 spectra (Athena is not made for thousands of groups, and writing them takes longer than processing), 'always', or 'never'.")

    def check(self, ctx: Context):
        from ...xas.xanes import tabulated_edge_ev  # deferred: only XAS recipes need it

        try:
            self._edge_ev = tabulated_edge_ev(self.element, self.edge)
        except ValueError as exc:
            yield "element", str(exc)
            return
        if (self.files is None) == (self.spectra is None):
            yield "files", "give the spectra either as 'files' (one file per state) or as 'spectra', not both or neither"
            return
        try:
            self._states = resolve_states(self, ctx.base_dir)
        except (FileNotFoundError, ValueError) as exc:
            yield "files" if self.files is not None else "spectra", str(exc)
            return
        yield from _athena_problems(self)
        names = [s.name for s in self.standards]
        if len(set(names)) != len(names):
            yield "standards", "standard names must be unique"
        for key, sel in (("valence.standards", self.valence.standards), ("valence.lcf_references", self.valence.lcf_references)):
            for n in sel or []:
                if n not in names:
                    yield key, f"{n!r} is not one of the standards ({', '.join(names) or 'none given'})"
        if self.valence.method in ("calibration", "both") and len(self.valence.standards or names) < 2 and self.standards:
            yield "valence.standards", "a calibration needs at least two standards"
        if self.exafs is not None and self.exafs.kmax <= self.exafs.kmin:
            yield "exafs.kmax", f"must be above kmin ({self.exafs.kmin})"


def _athena_problems(cfg: XasSeriesConfig):
    """(key, message) for every file whose Athena groups the recipe does not pick one of."""
    from ...xas.readers.athena import athena_selection_problem  # deferred: only XAS recipes

    for i, st in enumerate(cfg._states):
        for f in st.files:
            problem = athena_selection_problem(f, st.group)
            if problem:
                if st.is_standard:
                    key = f"standards[{i}].file"
                else:
                    key = "files" if cfg.files is not None else f"spectra[{i - len(cfg.standards)}].files"
                yield key, f"{Path(f).name}: {problem}"
                break


@dataclass
class State:
    """One state of an XAS series as processed: a standard, or a spectrum of the series.

    Parameters
    ----------
    key : str
        Unique name in the results (``<series>/<file name>``, ``<series>/standard/<name>``).
    label : str
        Name in tables and figures.
    files : list of str
        Absolute paths of its scans (repeats are merged).
    voltage_v : float or None
        Cell voltage stated in the recipe, V.
    time_s : float or None
        Time stated in the recipe, s on the experiment clock.
    valence : float or None
        Declared valence (standards only).
    is_standard : bool
        A reference standard rather than a state of the series.

    Examples
    --------
    >>> st = State("V K/ocv.xdi", "ocv", ["/data/ocv.xdi"], voltage_v=3.37)
    >>> st.label, st.voltage_v, st.is_standard
    ('ocv', 3.37, False)
    """

    key: str
    label: str
    files: list[str]
    voltage_v: float | None = None
    time_s: float | None = None
    valence: float | None = None  # standards only
    is_standard: bool = False
    group: int | str | None = None  # Athena project group


def resolve_states(cfg: XasSeriesConfig, base_dir: Path) -> list[State]:
    """Standards first, then the spectra, each with its files made absolute.

    Parameters
    ----------
    cfg : XasSeriesConfig
        The series (its ``files`` or ``spectra``, and ``standards``).
    base_dir : Path
        Folder the recipe's paths are relative to.

    Returns
    -------
    list of State
        One per standard, then one per file (``files``) or per entry of ``spectra``.

    Raises
    ------
    ValueError
        When two states share a label, or the series has no spectra.
    FileNotFoundError
        When a file or glob matches nothing.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("v2o3.xdi", "ocv.xdi", "charged.xdi"):
    ...     _ = (folder / name).write_text("")
    >>> cfg = XasSeriesConfig(name="V K", element="V", files=["ocv.xdi", "charged.xdi"],
    ...                       standards=[StandardConfig(name="V2O3", file=str(folder / "v2o3.xdi"),
    ...                                                 valence=3.0)])
    >>> [s.key for s in resolve_states(cfg, folder)]
    ['V K/standard/V2O3', 'V K/ocv.xdi', 'V K/charged.xdi']
    """
    states: list[State] = []
    for s in cfg.standards:
        states.append(State(f"{cfg.name}/standard/{s.name}", s.name, [str(s.file)], valence=s.valence, is_standard=True, group=s.group))
    if cfg.files is not None:
        refs = expand_inputs(cfg.files, base_dir)
        for r in refs:
            states.append(State(f"{cfg.name}/{Path(r.path).name}", Path(r.path).stem, [r.path]))
    else:
        for sp in cfg.spectra or []:
            paths = [r.path for r in expand_inputs(sp.files, base_dir)]
            label = sp.label or Path(paths[0]).stem
            states.append(State(f"{cfg.name}/{label}", label, paths, voltage_v=sp.voltage_v, time_s=sp.time_s, group=sp.group))
    keys = [s.key for s in states]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError(f"spectrum labels must be unique in a series; repeated: {', '.join(dup)}")
    if not any(not s.is_standard for s in states):
        raise ValueError("the series has no spectra")
    return states


def state_voltage(st: State, r: SpectrumResult) -> float | None:
    """The recipe's voltage of a state, else the one in the file header.

    Parameters
    ----------
    st : State
        The state, with the voltage the recipe states (or None).
    r : SpectrumResult
        Its processed spectrum, with the voltage its file header states (or None).

    Returns
    -------
    float or None
        Cell voltage, V.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> header = SimpleNamespace(voltage_v=3.41)  # stands in for a SpectrumResult
    >>> state_voltage(State("V K/a", "a", [], voltage_v=3.37), header)
    3.37
    >>> state_voltage(State("V K/a", "a", []), header)
    3.41
    """
    return st.voltage_v if st.voltage_v is not None else r.voltage_v


def state_time(st: State, r: SpectrumResult) -> float | None:
    """The recipe's time of a state, else the scan start from the file.

    Parameters
    ----------
    st : State
        The state, with the time the recipe states (or None).
    r : SpectrumResult
        Its processed spectrum, with the scan start read from its file (or None).

    Returns
    -------
    float or None
        Time, s (on the experiment clock when stated, else since the Unix epoch).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> scan = SimpleNamespace(time_s=1710406800.0)  # stands in for a SpectrumResult
    >>> state_time(State("V K/a", "a", [], time_s=600.0), scan)
    600.0
    >>> state_time(State("V K/a", "a", []), scan)
    1710406800.0
    """
    return st.time_s if st.time_s is not None else r.time_s
