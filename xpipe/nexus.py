"""NeXus naming and field helpers shared by every writer of ``results.h5``.

A NeXus name is ``[a-zA-Z0-9_]`` with inner dots allowed (the pattern of the NeXus standard's
``validItemName``). Labels such as a phase ``Na3V2(PO4)3`` or an XPS component ``V3+ 2p1_2`` are
written under :func:`nx_name` of the label, with the label itself in the ``@long_name`` attribute,
so a reader that wants the label reads ``@long_name`` and never parses the name back.
"""

from __future__ import annotations

import re

#: the NeXus standard's valid item name (NXDL ``validItemName``)
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_]([a-zA-Z0-9_.]*[a-zA-Z0-9_])?$")

_SIGNS = {"+": "plus"}


def nx_name(label: str) -> str:
    """The valid NeXus name for ``label``: signs spelled out, other characters as ``_``.

    Parameters
    ----------
    label : str
        Any text: a phase, a component, a series label.

    Returns
    -------
    str
        A name that matches :data:`NAME_PATTERN`; ``label`` itself when it already does.

    Examples
    --------
    >>> nx_name("Na3V2(PO4)3")
    'Na3V2_PO4_3'
    >>> nx_name("V3+ 2p1_2")
    'V3plus_2p1_2'
    >>> nx_name("spectrum_0")
    'spectrum_0'
    """
    text = str(label)
    if NAME_PATTERN.match(text):
        return text
    for sign, word in _SIGNS.items():
        text = text.replace(sign, word)
    text = re.sub(r"[^a-zA-Z0-9_.]+", "_", text)
    text = re.sub(r"_{2,}", "_", text).strip("_.") or "unnamed"
    text = re.sub(r"\.{2,}", ".", text)
    return text if NAME_PATTERN.match(text) else re.sub(r"[^a-zA-Z0-9_]", "_", text)


def nx_names(labels) -> dict[str, str]:
    """Distinct NeXus names for distinct labels, in order: a clash gets ``_2``, ``_3``...

    Parameters
    ----------
    labels : iterable of str
        The labels to name (duplicates map to the same name).

    Returns
    -------
    dict
        ``label -> name``.

    Examples
    --------
    >>> nx_names(["V3+", "V3 ", "O 1s"])
    {'V3+': 'V3plus', 'V3 ': 'V3', 'O 1s': 'O_1s'}
    >>> nx_names(["a b", "a_b"])
    {'a b': 'a_b', 'a_b': 'a_b_2'}
    """
    out: dict[str, str] = {}
    used: set[str] = set()
    for label in labels:
        if label in out:
            continue
        base = nx_name(label)
        name, k = base, 2
        while name in used:
            name, k = f"{base}_{k}", k + 1
        out[label] = name
        used.add(name)
    return out


# ----------------------------------------------------------------------------- layout and units

#: version of the ``results.h5`` layout, in ``/entry@xpipe_layout_version`` (docs/results.md)
LAYOUT_VERSION = 2

#: unit of a field from the end of its name (the project's rule: units in names)
_SUFFIX_UNITS = (
    ("_percent", "percent"), ("_kev", "keV"), ("_ev", "eV"), ("_mah", "mA*h"), ("_ma", "mA"),
    ("_mg", "mg"), ("_g_mol", "g/mol"), ("_nm_inv", "1/nm"), ("_a_inv", "1/angstrom"),
    ("_a3", "angstrom^3"), ("_a2", "angstrom^2"), ("_a", "angstrom"), ("_deg", "deg"),
    ("_rad", "rad"), ("_m", "m"), ("_s", "s"), ("_v", "V"),
)

#: the radial units of pyFAI's spellings
RADIAL_UNITS = {"2th_deg": "deg", "q_nm^-1": "1/nm", "q_A^-1": "1/angstrom", "2th_rad": "rad",
                "r_mm": "mm", "d*2_A^-2": "1/angstrom^2"}


def units_from_name(name: str) -> str | None:
    """The unit a field's name states by its ending (``time_s``, ``energy_ev``, ``a_err_a``...).

    Parameters
    ----------
    name : str
        A field name following the project's rule of units in names.

    Returns
    -------
    str or None
        A UDUNITS/pint spelling, or None when the name states no unit.

    Examples
    --------
    >>> units_from_name("edge_energy_err_ev"), units_from_name("capacity_mah")
    ('eV', 'mA*h')
    >>> units_from_name("volume_change_percent"), units_from_name("sigma2_a2"), units_from_name("norm")
    ('percent', 'angstrom^2', None)
    """
    low = name.lower()
    for suffix, units in _SUFFIX_UNITS:
        if low.endswith(suffix) and len(low) > len(suffix):
            return units
    return None


def radial_units(unit: str) -> str:
    """The units of a radial axis given in pyFAI's spelling (``2th_deg`` -> ``deg``).

    Parameters
    ----------
    unit : str
        pyFAI's unit name.

    Returns
    -------
    str
        A UDUNITS/pint spelling (``unit`` itself when unknown).

    Examples
    --------
    >>> radial_units("2th_deg"), radial_units("q_nm^-1"), radial_units("q_A^-1")
    ('deg', '1/nm', '1/angstrom')
    """
    return RADIAL_UNITS.get(unit, unit)


def set_units(ds, units: str | None, long_name: str | None = None, **attrs):
    """Give a field its ``@units`` (and ``@long_name``, other attributes); returns the field.

    Parameters
    ----------
    ds : h5py.Dataset
        The field.
    units : str or None
        UDUNITS/pint spelling (``"1"`` for a dimensionless ratio); None writes none.
    long_name : str, optional
        What the field is, in words.
    **attrs
        More attributes (None values left out).

    Returns
    -------
    h5py.Dataset
        ``ds``.

    Examples
    --------
    >>> import h5py
    >>> h5 = h5py.File("u.h5", "w", driver="core", backing_store=False)  # in memory
    >>> ds = set_units(h5.create_dataset("fwhm_u", data=[0.01]), "deg^2", "Caglioti U")
    >>> dict(ds.attrs)
    {'long_name': 'Caglioti U', 'units': 'deg^2'}
    """
    for key, value in (("units", units), ("long_name", long_name), *attrs.items()):
        if value is not None:
            ds.attrs[key] = value
    return ds


def nx_data(parent, name: str, signal: str, axes: list[str], **attrs):
    """An NXdata group whose ``@signal``, ``@axes`` and ``@<axis>_indices`` are set.

    Parameters
    ----------
    parent : h5py.Group
        Where the group lives (created when missing).
    name : str
        Its name.
    signal : str
        Name of the signal field.
    axes : list of str
        One axis field name per dimension of the signal (``"."`` for a dimension without one).
    **attrs
        More group attributes (None values left out).

    Returns
    -------
    h5py.Group
        The group.

    Examples
    --------
    >>> import h5py
    >>> h5 = h5py.File("d.h5", "w", driver="core", backing_store=False)  # in memory
    >>> g = nx_data(h5, "spectra", "norm", ["spectrum_index", "energy_ev"])
    >>> g.attrs["NX_class"], list(g.attrs["axes"]), int(g.attrs["energy_ev_indices"])
    ('NXdata', ['spectrum_index', 'energy_ev'], 1)
    """
    grp = parent.require_group(name)
    grp.attrs["NX_class"] = "NXdata"
    grp.attrs["signal"] = signal
    grp.attrs["axes"] = list(axes)
    for i, axis in enumerate(axes):
        if axis != ".":
            grp.attrs[f"{axis}_indices"] = i
    for key, value in attrs.items():
        if value is not None:
            grp.attrs[key] = value
    return grp


def labelled(group) -> dict:
    """The sub-groups of ``group`` by label: ``@long_name`` where written, else the name.

    Parameters
    ----------
    group : h5py.Group
        A group whose members are named with :func:`nx_name` of their labels.

    Returns
    -------
    dict
        ``label -> member``, in the file's order.

    Examples
    --------
    >>> import h5py
    >>> h5 = h5py.File("l.h5", "w", driver="core", backing_store=False)  # in memory
    >>> h5.create_group("lattice/Na3V2_PO4_3").attrs["long_name"] = "Na3V2(PO4)3"
    >>> list(labelled(h5["lattice"]))
    ['Na3V2(PO4)3']
    """
    out = {}
    for name, member in group.items():
        label = member.attrs.get("long_name", name)
        out[label.decode() if isinstance(label, bytes) else str(label)] = member
    return out


def complete_units(group) -> list[str]:
    """Give every float field under ``group`` that has no ``@units`` the unit its name states.

    A field ``<name>_err`` or ``<name>_errors`` without a unit of its own gets its value's.

    Parameters
    ----------
    group : h5py.Group
        Usually ``/entry`` of a results file being written.

    Returns
    -------
    list of str
        Paths of the float fields still without ``@units`` (dimensionless or unknown).

    Examples
    --------
    >>> import h5py
    >>> h5 = h5py.File("c.h5", "w", driver="core", backing_store=False)  # in memory
    >>> h5["a"] = [5.0]
    >>> h5["a"].attrs["units"] = "angstrom"
    >>> h5["a_err"], h5["time_s"], h5["noise"] = [0.1], [1.0], [0.2]
    >>> complete_units(h5), h5["a_err"].attrs["units"], h5["time_s"].attrs["units"]
    (['/noise'], 'angstrom', 's')
    """
    import h5py

    missing: list[str] = []
    found: list[tuple[str, str]] = []

    def visit(name: str, obj) -> None:
        if not isinstance(obj, h5py.Dataset) or obj.dtype.kind != "f" or "units" in obj.attrs:
            return
        leaf = name.rsplit("/", 1)[-1]
        units = units_from_name(leaf)
        if units is None:
            for ending in ("_errors", "_err"):
                if leaf.endswith(ending):
                    base = obj.parent.get(leaf[: -len(ending)])
                    if isinstance(base, h5py.Dataset) and "units" in base.attrs:
                        units = base.attrs["units"]
        if units is None:
            missing.append(obj.name)
        else:
            found.append((name, units))

    group.visititems(visit)
    # written after the walk: HDF5 refuses an object header changed while it visits it
    # ("Object visitation failed"), depending on how the file happens to be laid out
    for name, units in found:
        group[name].attrs["units"] = units
    return missing


# ----------------------------------------------------------------------------- entry and processes


def process_name(stage_name: str) -> str:
    """Name of the NXprocess group that records stage ``stage_name`` in ``/entry``.

    Parameters
    ----------
    stage_name : str
        The stage's name (``xrd.integrate``, ``xas``...).

    Returns
    -------
    str
        ``process_<stage>`` as a valid NeXus name.

    Examples
    --------
    >>> process_name("xrd.integrate"), process_name("xas")
    ('process_xrd_integrate', 'process_xas')
    """
    return nx_name("process_" + stage_name.replace(".", "_"))


def write_process(entry, stage, sequence_index: int, date: str, version: str, settings=None):
    """``/entry/process_<stage>`` (NXprocess): program, version, run order, date and settings.

    Parameters
    ----------
    entry : h5py.Group
        ``/entry`` of the results file being written.
    stage : object
        The stage: its ``name`` and ``label``.
    sequence_index : int
        Its place in the run order, from 1.
    date : str
        When its results were written (ISO 8601).
    version : str
        The xpipe version.
    settings : dict, optional
        Its settings, stored as JSON in the ``parameters`` NXnote.

    Returns
    -------
    h5py.Group
        The NXprocess group.

    Examples
    --------
    >>> import h5py, json
    >>> h5 = h5py.File("p.h5", "w", driver="core", backing_store=False)  # in memory
    >>> class Stage:
    ...     name, label = "xrd.integrate", "frames"
    >>> g = write_process(h5.create_group("entry"), Stage(), 1, "2025-03-14T09:00:00+00:00",
    ...                   "0.1.0", {"npt": 2000})
    >>> g.name, g["program"][()], int(g["sequence_index"][()]), json.loads(g["parameters/data"][()])
    ('/entry/process_xrd_integrate', b'xpipe', 1, {'npt': 2000})
    """
    import json

    grp = entry.require_group(process_name(stage.name))
    grp.attrs["NX_class"] = "NXprocess"
    for key in [k for k in grp]:
        del grp[key]
    grp.create_dataset("program", data="xpipe")
    grp.create_dataset("version", data=version)
    grp.create_dataset("sequence_index", data=int(sequence_index))
    grp.create_dataset("date", data=date)
    if settings is not None:
        note = grp.require_group("parameters")
        note.attrs["NX_class"] = "NXnote"
        note.create_dataset("type", data="application/json")
        note.create_dataset("description", data=f"settings of the {stage.name} stage ({stage.label})")
        note.create_dataset("data", data=json.dumps(settings, sort_keys=True, default=str))
    return grp


#: the group each technique's default plot is found in, in order of preference
_DEFAULT_CHAIN = ("xrd", "xas", "xps", "echem", "timeline")


def set_default_chain(entry) -> str | None:
    """Point ``/entry@default`` (and each level below) at the first plottable NXdata.

    Parameters
    ----------
    entry : h5py.Group
        ``/entry``.

    Returns
    -------
    str or None
        The path of the NXdata the chain ends at; None when there is none.

    Examples
    --------
    >>> import h5py
    >>> h5 = h5py.File("dc.h5", "w", driver="core", backing_store=False)  # in memory
    >>> _ = nx_data(h5.create_group("entry/xas/V_K"), "spectra", "norm", [".", "energy_ev"])
    >>> set_default_chain(h5["entry"]), h5["entry"].attrs["default"], h5["entry/xas"].attrs["default"]
    ('/entry/xas/V_K/spectra', 'xas', 'V_K')
    """
    def first_data(group, depth: int):
        if group.attrs.get("NX_class") == "NXdata" and "signal" in group.attrs:
            return [group]
        if depth == 0:
            return None
        preferred = group.attrs.get("default", "")
        preferred = preferred.decode() if isinstance(preferred, bytes) else str(preferred)
        names = ([preferred] if preferred and preferred in group else []) + [n for n in group if n != preferred]
        for name in names:
            child = group.get(name)
            if child is not None and hasattr(child, "items"):
                chain = first_data(child, depth - 1)
                if chain:
                    return [group, *chain]
        return None

    for top in _DEFAULT_CHAIN:
        if top in entry:
            chain = first_data(entry[top], 3)
            if chain:
                entry.attrs["default"] = top
                for parent, child in zip(chain, chain[1:]):
                    parent.attrs["default"] = child.name.rsplit("/", 1)[-1]
                return chain[-1].name
    return None


def finish_entry(entry, *, start_time: str, end_time: str, version: str, sample_name: str | None = None,
                 chemical_formula: str | None = None) -> list[str]:
    """The last touches of ``/entry``: times, program, layout version, sample, units, defaults.

    Parameters
    ----------
    entry : h5py.Group
        ``/entry`` with every stage's results written.
    start_time, end_time : str
        When the run started and ended (ISO 8601).
    version : str
        The xpipe version.
    sample_name : str, optional
        The sample's name (``/entry/sample/name``); no NXsample without it.
    chemical_formula : str, optional
        The sample's formula, only where the recipe states it.

    Returns
    -------
    list of str
        Float fields left without ``@units`` (see :func:`complete_units`).

    Examples
    --------
    >>> import h5py
    >>> h5 = h5py.File("f.h5", "w", driver="core", backing_store=False)  # in memory
    >>> entry = h5.create_group("entry")
    >>> entry["echem/time_s"] = [0.0, 1.0]
    >>> finish_entry(entry, start_time="2025-03-14T09:00:00+00:00", end_time="2025-03-14T09:01:00+00:00",
    ...              version="0.1.0", sample_name="NVP cathode", chemical_formula="Na3V2(PO4)3")
    []
    >>> int(entry.attrs["xpipe_layout_version"]), entry["sample/chemical_formula"][()]
    (2, b'Na3V2(PO4)3')
    """
    entry.attrs["xpipe_layout_version"] = LAYOUT_VERSION
    for name, value in (("start_time", start_time), ("end_time", end_time)):
        if name not in entry:
            entry.create_dataset(name, data=value)
    if "program_name" not in entry:
        entry.create_dataset("program_name", data="xpipe").attrs["version"] = version
    if sample_name and "sample" not in entry:
        sample = entry.create_group("sample")
        sample.attrs["NX_class"] = "NXsample"
        sample.create_dataset("name", data=sample_name)
        if chemical_formula:
            sample.create_dataset("chemical_formula", data=chemical_formula)
    missing = complete_units(entry)
    set_default_chain(entry)
    return missing


#: h c in keV angstrom (CODATA 2018), to turn a wavelength into a photon energy
HC_KEV_A = 12.398419843320026


def write_instrument(entry, technique: str, *, probe: str = "x-ray", source_type: str | None = None,
                     source_name: str | None = None, wavelength_a: float | None = None,
                     photon_energy_ev: float | None = None, geometry: dict | None = None):
    """``/entry/instrument`` (NXinstrument) with one technique's parts: only what the inputs state.

    ``<technique>_source`` (NXsource) with the probe and, where known, its type and name;
    ``<technique>_monochromator`` (NXmonochromator) with the wavelength (angstrom) and photon
    energy (keV) of a diffraction geometry; ``<technique>_beam`` (NXbeam) with the excitation
    energy (eV) a spectrum file states; ``<technique>_detector`` (NXdetector) with the name,
    pixel sizes and distance of a pyFAI geometry. Parts already written are kept.

    Parameters
    ----------
    entry : h5py.Group
        ``/entry``.
    technique : str
        ``xrd``, ``xas`` or ``xps``: the prefix of the parts' names.
    probe : str
        NXsource probe (``x-ray``).
    source_type, source_name : str, optional
        NXsource type and name, only when an input states them.
    wavelength_a : float, optional
        The incident wavelength of a diffraction geometry.
    photon_energy_ev : float, optional
        The excitation energy stated by a spectrum file.
    geometry : dict, optional
        :func:`xpipe.io.geometry.geometry_record` of the integrator.

    Returns
    -------
    h5py.Group
        The NXinstrument group.

    Examples
    --------
    >>> import h5py
    >>> h5 = h5py.File("i.h5", "w", driver="core", backing_store=False)  # in memory
    >>> inst = write_instrument(h5.create_group("entry"), "xrd", wavelength_a=0.8, geometry={
    ...     "detector": "Pilatus 100k", "pixel1_m": 172e-6, "pixel2_m": 172e-6, "distance_m": 0.2})
    >>> energy = inst["xrd_monochromator/energy"]
    >>> round(float(energy[()]), 4), energy.attrs["units"], inst["xrd_source/probe"][()]
    (15.498, 'keV', b'x-ray')
    >>> sorted(inst["xrd_detector"])
    ['description', 'distance', 'x_pixel_size', 'y_pixel_size']
    """
    inst = entry.require_group("instrument")
    inst.attrs["NX_class"] = "NXinstrument"

    def part(name: str, nx_class: str):
        grp = inst.require_group(f"{technique}_{name}")
        grp.attrs["NX_class"] = nx_class
        return grp

    if f"{technique}_source" not in inst:
        src = part("source", "NXsource")
        src.create_dataset("probe", data=probe)
        if source_type:
            src.create_dataset("type", data=source_type)
        if source_name:
            src.create_dataset("name", data=source_name)
    if wavelength_a and f"{technique}_monochromator" not in inst:
        mono = part("monochromator", "NXmonochromator")
        set_units(mono.create_dataset("wavelength", data=float(wavelength_a)), "angstrom", "incident wavelength")
        set_units(mono.create_dataset("energy", data=HC_KEV_A / float(wavelength_a)), "keV", "incident photon energy")
    if photon_energy_ev and f"{technique}_beam" not in inst:
        beam = part("beam", "NXbeam")
        set_units(beam.create_dataset("incident_energy", data=float(photon_energy_ev)), "eV", "excitation photon energy")
    if geometry and f"{technique}_detector" not in inst:
        det = part("detector", "NXdetector")
        if geometry.get("detector"):
            det.create_dataset("description", data=str(geometry["detector"]))
        for name, key, long_name in (("x_pixel_size", "pixel2_m", "pixel size along the fast axis (pyFAI pixel2)"),
                                     ("y_pixel_size", "pixel1_m", "pixel size along the slow axis (pyFAI pixel1)"),
                                     ("distance", "distance_m", "sample to detector plane, along its normal (pyFAI dist)")):
            if geometry.get(key) is not None:
                set_units(det.create_dataset(name, data=float(geometry[key])), "m", long_name)
    return inst
