"""Athena projects (.prj): read their mu(E) groups, and write groups Athena and Larix open.

Larch parses and writes the project (old Perl-text or JSON records, plain or gzip); this
module turns its groups into :class:`~xpipe.xas.scan.XasScan` objects with Athena's stored
processing parameters beside them, and back.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..scan import XasReadError, XasScan
from .base import REGISTRY, PathLike, _edge_name, _element_symbol, _existing_file, _plain, _quiet

_ATHENA_SCALARS = (int, float, str)

_PRE_EDGE_KEYS = {"e0": "e0", "pre1": "pre1", "pre2": "pre2", "norm1": "norm1", "nor1": "norm1",
                  "norm2": "norm2", "nor2": "norm2", "nnorm": "nnorm", "nvict": "nvict",
                  "step": "step", "edge_step": "step"}
_BKG_KEYS = {"rbkg": "rbkg", "spl1": "spl1", "kmin": "spl1", "spl2": "spl2", "kmax": "spl2",
             "kw": "kw", "kweight": "kw", "dk": "dk", "eshift": "eshift",
             "energy_shift": "eshift", "clamp1": "clamp1", "clamp2": "clamp2"}
_DERIVED_ARRAYS = {"norm", "flat", "pre_edge", "post_edge", "dmude", "d2mude", "bkg", "chi",
                   "k", "chie", "norm_poly", "flat_alt"}
_ATHENA_GROUP_KEYS = {"element", "edge", "i0", "fft"}


# --------------------------------------------------------------------------------------------
# reading


def _athena_params(grp: Any, name: str) -> dict[str, Any]:
    """Athena's stored background and Fourier-transform parameters of one group."""
    params = getattr(grp, "athena_params", None)
    athena: dict[str, Any] = {}
    bkg = getattr(params, "bkg", None)
    fft = getattr(params, "fft", None)
    if bkg is not None:
        athena.update({k: _plain(v) for k, v in vars(bkg).items()
                       if not k.startswith("_") and isinstance(_plain(v), _ATHENA_SCALARS)})
    if fft is not None:
        athena["fft"] = {k: _plain(v) for k, v in vars(fft).items()
                         if not k.startswith("_") and isinstance(_plain(v), _ATHENA_SCALARS)}
    athena["id"] = _plain(getattr(grp, "athena_id", name))
    return athena


def _athena_scan(p: Path, name: str, grp: Any, label: str) -> XasScan:
    athena = _athena_params(grp, name)
    meta: dict[str, Any] = {"format": "Athena project", "athena": athena, "athena_group": name}
    element = _element_symbol(getattr(grp, "atsym", None)) or _element_symbol(athena.get("z"))
    edge = _edge_name(getattr(grp, "edge", None)) or _edge_name(
        athena.get("fft", {}).get("edge"))
    scan = XasScan(energy_ev=np.asarray(grp.energy, float), mu=np.asarray(grp.mu, float),
                   source=str(p), label=label, mode="mu", element=element, edge=edge,
                   metadata=meta)
    scan.check()
    return scan


def _select_group(p: Path, scans: list[XasScan], group: str | int) -> list[XasScan]:
    """The one group named ``group`` (its label or Athena id) or at index ``group``."""
    names = ", ".join(f"{i}: {s.label!r}" for i, s in enumerate(scans))
    if isinstance(group, bool) or not isinstance(group, (int, str)):
        raise XasReadError(f"{p}: group must be a group label or an index, got {group!r}; the "
                           f"project holds {names}")
    if isinstance(group, int):
        if -len(scans) <= group < len(scans):
            return [scans[group]]
        raise XasReadError(f"{p}: no group at index {group}; the project holds {len(scans)} "
                           f"mu(E) groups ({names})")
    hits = [s for s in scans if group in (s.label, str(s.metadata.get("athena_group")),
                                          str(s.metadata["athena"].get("id")))]
    if len(hits) == 1:
        return hits
    if hits:
        raise XasReadError(f"{p}: {len(hits)} groups are labelled {group!r}; select one by "
                           f"index ({names})")
    raise XasReadError(f"{p}: no group labelled {group!r}; the project holds {names}")


def athena_group_labels(path: PathLike) -> list[str]:
    """Labels of the mu(E) groups of an Athena project, in project order.

    Parameters
    ----------
    path : str or Path
        The project file.

    Returns
    -------
    list of str
        One label per group that :func:`read_athena` returns.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> e = np.linspace(7000.0, 7400.0, 201)
    >>> mu = 0.5 + np.arctan((e - 7112.0) / 3.0) / np.pi
    >>> path = write_athena(Path(tempfile.mkdtemp()) / "two.prj", [("FeO", e, mu), ("Fe2O3", e, mu)])
    >>> athena_group_labels(path)
    ['FeO', 'Fe2O3']
    """
    return [s.label for s in read_athena(path)]


def athena_selection_problem(path: PathLike, group: str | int | None) -> str | None:
    """Why ``group`` does not pick one spectrum of ``path``, or None when it does.

    A file that is not an Athena project needs no group (and may not have one); a project of
    one mu(E) group needs none; a project of several needs one, by label or index. Used by
    recipe validation and by the XAS stage, so a project is never merged group into group.

    Parameters
    ----------
    path : str or Path
        The scan file.
    group : str or int or None
        The selection the recipe gives.

    Returns
    -------
    str or None
        A one-line reason naming the groups, or None.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> e = np.linspace(7000.0, 7400.0, 201)
    >>> mu = 0.5 + np.arctan((e - 7112.0) / 3.0) / np.pi
    >>> two = write_athena(Path(tempfile.mkdtemp()) / "two.prj", [("FeO", e, mu), ("Fe2O3", e, mu)])
    >>> print(athena_selection_problem(two, None))
    the Athena project holds 2 groups (0: 'FeO', 1: 'Fe2O3'); choose one with 'group' (a label or an index)
    >>> athena_selection_problem(two, "FeO") is None
    True
    """
    p = Path(path)
    try:
        is_project = REGISTRY.detect(p).name == "athena"
    except Exception:  # noqa: BLE001 - an unreadable file is the reader's to report, later
        is_project = False
    if not is_project:
        return None if group is None else (f"'group' selects a group of an Athena project; "
                                           f"{p.name} is not one")
    try:
        labels = athena_group_labels(p)
        if group is not None:
            _select_group(p, read_athena(p), group)
    except XasReadError as exc:
        return str(exc).replace(f"{p}: ", "", 1)
    if group is None and len(labels) > 1:
        names = ", ".join(f"{i}: {x!r}" for i, x in enumerate(labels))
        return (f"the Athena project holds {len(labels)} groups ({names}); choose one with "
                "'group' (a label or an index)")
    return None


def read_athena(path: PathLike, group: str | int | None = None) -> list[XasScan]:
    """Read the mu(E) groups of an Athena project (.prj, old Perl-text or JSON, plain or gzip).

    Parameters
    ----------
    path : str or Path
        The project file.
    group : str or int, optional
        Only this group: its label (or Athena id), or its index among the mu(E) groups in
        project order. A label or index that is not there raises
        :class:`~xpipe.xas.scan.XasReadError` listing the groups. None: every group.

    Returns
    -------
    list of XasScan
        One per mu(E) group (energy in eV), in project order, labelled with the Athena group
        label. Athena's stored processing parameters (e0, pre1, pre2, nor1, nor2, nnorm, rbkg,
        spl1, spl2, kw, eshift, ...) are in ``metadata['athena']`` with the Fourier-transform
        ones under ``metadata['athena']['fft']``. Groups holding chi(k) or other non-mu records
        are skipped and listed in ``metadata['athena_skipped']`` of every returned scan.

    Examples
    --------
    A project written by :func:`write_athena`, read back:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> e = np.linspace(7000.0, 7400.0, 201)
    >>> mu = 0.5 + np.arctan((e - 7112.0) / 3.0) / np.pi
    >>> path = write_athena(Path(tempfile.mkdtemp()) / "fe.prj",
    ...                     [("Fe foil", e, mu, {"element": "Fe", "edge": "K", "rbkg": 1.1})])
    >>> scans = read_athena(path)
    >>> [(s.label, s.element, s.edge, s.energy_ev.size) for s in scans]
    [('Fe foil', 'Fe', 'K', 201)]
    >>> scans[0].metadata["athena"]["rbkg"]
    1.1
    >>> two = write_athena(Path(tempfile.mkdtemp()) / "two.prj", [("FeO", e, mu), ("Fe2O3", e, mu)])
    >>> [s.label for s in read_athena(two, group="Fe2O3")], read_athena(two, group=0)[0].label
    (['Fe2O3'], 'FeO')
    """
    # larch takes seconds to import: only when a project is read
    from larch.io.athena_project import AthenaProject, is_athena_project

    p = _existing_file(path)
    with _quiet():  # Larch decodes the file with sys.stdout.encoding: give it one
        is_project = is_athena_project(str(p))
    if not is_project:
        raise XasReadError(f"{p}: not an Athena project; expected a .prj file (plain or gzip) "
                           "whose first line is '# Athena project file -- ...'")
    proj = AthenaProject()
    try:
        with _quiet():
            proj.read(str(p), do_preedge=False, do_bkg=False, do_fft=False)
    except Exception as exc:  # Larch's parsers raise ValueError, KeyError, json errors, ...
        raise XasReadError(f"{p}: Athena project could not be parsed ({type(exc).__name__}: "
                           f"{exc}); expected Athena's Perl-text or JSON record layout") from exc
    scans: list[XasScan] = []
    skipped: list[str] = []
    for name, grp in proj.groups.items():
        label = str(getattr(grp, "label", name))
        if getattr(grp, "energy", None) is None or getattr(grp, "mu", None) is None:
            skipped.append(label)
            continue
        scans.append(_athena_scan(p, name, grp, label))
    if not scans:
        raise XasReadError(f"{p}: no mu(E) groups in this Athena project; expected at least one "
                           f"group of energy and mu (found {len(skipped)} other groups)")
    if skipped:
        for scan in scans:
            scan.metadata["athena_skipped"] = list(skipped)
    for scan in scans:
        scan.metadata["athena_groups"] = [s.label for s in scans]
    return scans if group is None else _select_group(p, scans, group)


# --------------------------------------------------------------------------------------------
# writing


def _athena_item(item: Any) -> tuple[str, np.ndarray, np.ndarray, dict[str, Any],
                                     np.ndarray | None]:
    if isinstance(item, XasScan):
        extra = dict(item.metadata.get("athena", {}) or {})
        extra = {k: v for k, v in extra.items()
                 if k in _PRE_EDGE_KEYS or k in _BKG_KEYS or k == "fft"}
        if item.element:
            extra["element"] = item.element
        if item.edge:
            extra["edge"] = item.edge
        return item.label, item.energy_ev, item.mu, extra, item.reference_mu
    if isinstance(item, Sequence) and not isinstance(item, str) and len(item) in (3, 4):
        label, energy, mu = item[0], item[1], item[2]
        extra = dict(item[3]) if len(item) == 4 and item[3] is not None else {}
        return str(label), np.asarray(energy, float), np.asarray(mu, float), extra, None
    raise TypeError("write_athena expects XasScan objects or (label, energy_ev, mu[, extra]) "
                    f"tuples, got {type(item).__name__}")


def _athena_items(scans_or_groups: Iterable[Any], include_reference: bool
                  ) -> list[tuple[str, np.ndarray, np.ndarray, dict[str, Any]]]:
    """(label, energy, mu, extra) of every group to write, references after their scan."""
    items: list[tuple[str, np.ndarray, np.ndarray, dict[str, Any]]] = []
    for item in scans_or_groups:
        label, energy, mu, extra, ref = _athena_item(item)
        items.append((label, energy, mu, extra))
        if include_reference and ref is not None:
            ref_extra = {k: v for k, v in extra.items() if k in ("element", "edge")}
            items.append((f"{label} reference", energy, ref, ref_extra))
    return items


def _larch_group(out: Path, label: str, energy: Any, mu: Any, extra: dict[str, Any]) -> Any:
    """A Larch group of one item, checked and normalised by Larch's ``pre_edge``."""
    from larch import Group  # larch takes seconds to import: only when writing
    from larch.xafs import pre_edge

    unknown = set(extra) - set(_PRE_EDGE_KEYS) - set(_BKG_KEYS) - _DERIVED_ARRAYS - (
        _ATHENA_GROUP_KEYS)
    if unknown:
        raise ValueError(f"group '{label}': unknown entries {sorted(unknown)}; expected "
                         "normalisation or background parameters, element, edge, i0, fft "
                         "or derived arrays")
    energy = np.asarray(energy, float)
    mu = np.asarray(mu, float)
    XasScan(energy_ev=energy, mu=mu, source=str(out), label=label).check()
    grp = Group(name=label, energy=energy.copy(), mu=mu.copy(), filename=label)
    if extra.get("i0") is not None:
        grp.i0 = np.asarray(extra["i0"], float)
    kws = {_PRE_EDGE_KEYS[k]: float(v) for k, v in extra.items()
           if k in _PRE_EDGE_KEYS and v is not None}
    if "nnorm" in kws:
        kws["nnorm"] = int(kws["nnorm"])
    try:
        pre_edge(grp, **kws)
    except Exception as exc:  # Larch's fits fail with several exception types
        raise XasReadError(f"{out}: normalisation of group '{label}' failed in Larch "
                           f"({type(exc).__name__}: {exc}); check e0 and the pre/post-edge "
                           "ranges") from exc
    if "e0" in kws:
        grp.e0 = kws["e0"]
    return grp


def _set_athena_args(args: dict[str, Any], label: str, extra: dict[str, Any]) -> None:
    """Athena's record of a group: label, background and fft parameters, element and edge."""
    args["label"] = label
    for k, v in extra.items():
        if k in _BKG_KEYS and v is not None:
            args[f"bkg_{_BKG_KEYS[k]}"] = v
    for k, v in (extra.get("fft") or {}).items():
        if isinstance(_plain(v), _ATHENA_SCALARS):
            args[f"fft_{k}"] = _plain(v)
    element = _element_symbol(extra.get("element"))
    if element:
        args["bkg_z"] = args["atsym"] = element
    edge = _edge_name(extra.get("edge"))
    if edge:
        args["fft_edge"] = args["edge"] = edge


def write_athena(path: PathLike, scans_or_groups: Iterable[Any], *,
                 include_reference: bool = False) -> Path:
    """Write groups to an Athena project (.prj, gzip) that Athena and Larix open.

    Parameters
    ----------
    path : str or Path
        Project file to write (replaced if it exists).
    scans_or_groups : iterable
        XasScan objects, or tuples ``(label, energy_ev, mu)`` / ``(label, energy_ev, mu, extra)``
        with energies in eV. ``extra`` may give normalisation parameters (e0, pre1, pre2,
        norm1/nor1, norm2/nor2, nnorm, nvict, step; energies in eV), background parameters (rbkg
        in Angstrom, kmin/spl1, kmax/spl2 in 1/Angstrom, kweight/kw, dk, eshift in eV, clamp1,
        clamp2), 'element', 'edge', an 'i0' array and a dict 'fft' of Athena fft_* values.
        Parameters not given are found by Larch's ``pre_edge``. Derived arrays (norm, flat,
        pre_edge, post_edge, bkg, chi, ...) are accepted and not stored: Athena recomputes them
        from the parameters. A scan read by :func:`read_athena` keeps its stored parameters.
    include_reference : bool
        Also write each XasScan's reference channel as a group '<label> reference'.

    Returns
    -------
    Path
        The file written.

    Examples
    --------
    >>> import gzip
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> e = np.linspace(7000.0, 7400.0, 201)
    >>> mu = 0.5 + np.arctan((e - 7112.0) / 3.0) / np.pi
    >>> out = write_athena(Path(tempfile.mkdtemp()) / "series.prj",
    ...                    [("state 1", e, mu), ("state 2", e, 1.1 * mu, {"e0": 7112.0})])
    >>> out.name
    'series.prj'
    >>> gzip.open(out, "rt").readline().startswith("# Athena project file")
    True
    """
    # larch takes seconds to import: only when writing
    from larch.io.athena_project import AthenaProject

    out = Path(path)
    items = _athena_items(scans_or_groups, include_reference)
    if not items:
        raise ValueError(f"{out}: nothing to write; expected at least one group")
    proj = AthenaProject()
    for label, energy, mu, extra in items:
        grp = _larch_group(out, label, energy, mu, extra)
        before = set(proj.groups)
        with _quiet():
            proj.add_group(grp)
        (key,) = set(proj.groups) - before
        _set_athena_args(proj.groups[key].args, label, extra)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _quiet():  # Larch encodes the file with sys.stdout.encoding: give it one
            proj.save(str(out), use_gzip=True)
    except OSError as exc:
        raise XasReadError(f"{out}: could not write the Athena project ({exc})") from exc
    return out


# --------------------------------------------------------------------------------------------
# registration


def _sniff(head: bytes) -> bool:
    """Athena's first line, '# Athena project file -- ...', also inside a gzip stream."""
    if head.startswith(b"\x1f\x8b"):  # gzip: Athena's marker within its first 500 characters
        try:
            text = zlib.decompressobj(wbits=31).decompress(head, 4096)
        except zlib.error:
            return False
        return "Athena project file -- " in text.decode("utf-8", "replace")[:500]
    return head.decode("latin-1").startswith("# Athena project file")


REGISTRY.register("athena", read=read_athena, suffixes=(".prj",), sniff=_sniff,
                  description="Athena project, plain or gzip (read_athena)")
