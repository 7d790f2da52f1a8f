"""XPS readers on real files from the pynxtools-xps test suite, against reference readers.

Every file of ``corpus/xps/pynxtools_xps`` is read with :func:`xpipe.xps.readers.read_xps` and
either matches the references point for point (binding energy, intensity, number of points,
region names, photon energy) or is refused with a one-line reason that names the file.

References: pynxtools-xps (all formats it reads), the ``vamas`` package (REGULAR VAMAS), igor2
(Igor binary waves); each is optional (test-only) and its comparison is skipped, with the
reason in the table, where it is not installed. Every file is also checked against numbers this
test reads itself from the file's layout (VAMAS ISO 14976 data lines, SPECS ``.xy`` curves,
Scienta ``[Data n]`` sections, CasaXPS text blocks), which needs no package.
"""

from __future__ import annotations

import importlib.util
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import CORPUS, needs_corpus
from xpipe.xps.readers import XpsReadError, read_xps

FOLDER = CORPUS / "xps" / "pynxtools_xps"
FILES = sorted(p for p in FOLDER.rglob("*") if p.is_file() and p.name != "LICENSE") \
    if FOLDER.is_dir() else []



def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ValueError:  # blocked in sys.modules
        return False


HAS_PYNX, HAS_VAMAS, HAS_IGOR = (_installed(n) for n in ("pynxtools_xps", "vamas", "igor2"))

#: files refused on purpose, with the words the reason must hold
REFUSED = {
    "In-situ_PBTTT_XPS_SPECS.xml": "SpecsLab2 XML (.xml) is not a format xpipe reads",
    # pieces of VAMAS headers that the reference suite feeds to its comment parser: not files
    "casa_header.vms": "expected a VAMAS file",
    "kratos.vms": "expected a VAMAS file",
    "phi.vms": "expected a VAMAS file",
    "specs_header.vms": "expected a VAMAS file",
}


def _same(a, b, what: str, rtol: float = 1e-9, atol: float = 1e-9) -> str:
    """'' when the arrays agree, else what differs."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return f"{what}: {a.size} points, reference {b.size}"
    if not np.allclose(a, b, rtol=rtol, atol=atol):
        k = int(np.argmax(np.abs(a - b)))
        return f"{what}: point {k} is {a[k]!r}, reference {b[k]!r}"
    return ""


def _ascending(be, y):
    order = np.argsort(be, kind="stable")
    return np.asarray(be, float)[order], np.asarray(y, float)[order]


def _per_second(s) -> np.ndarray:
    """The intensity in counts/s: counts divided by the dwell time and the number of scans."""
    if s.metadata["intensity_unit"] == "counts/s":
        return s.intensity
    return s.intensity / (s.dwell_s * (s.n_scans or 1))


# --------------------------------------------------------------------------------------------
# numbers read here from each format's layout


def _own_specs_xy(path: Path) -> tuple[list[dict], int]:
    """Energy curves of a Prodigy .xy export ({group, region, cycle, x, y}) and the number of
    curves whose first column is not an energy."""
    curves, group, region, cur = [], "", "", None
    for line in path.read_text(errors="replace").splitlines():
        s = line.strip()
        if s.startswith("# Group:"):
            group = s.split(":", 1)[1].strip()
        elif s.startswith("# Region:"):
            region = s.split(":", 1)[1].strip()
        elif (m := re.match(r"# Cycle: (\d+), Curve: (\d+)", s)):
            cur = {"group": group, "region": region, "cycle": int(m.group(1)), "rows": []}
            curves.append(cur)
        elif s.startswith("# ColumnLabels:"):
            cur["columns"] = s.split(":", 1)[1].split()
        elif s and not s.startswith("#"):
            cur["rows"].append([float(t) for t in s.split()])
    energy = [c for c in curves if c.get("columns", ["energy"])[0] == "energy"]
    for c in energy:
        arr = np.array(c.pop("rows"))
        c["x"], c["y"] = arr[:, 0], arr[:, 1]
    return energy, len(curves) - len(energy)


def _own_scienta_txt(path: Path) -> list[dict]:
    """Regions of a SES .txt file: name, hv, energy scale, rows of [Data n]."""
    out, sec = {}, ""
    for line in path.read_text(errors="replace").splitlines():
        s = line.strip()
        if s.startswith("[") and s.endswith("]"):
            sec = s[1:-1]
            continue
        k = sec.split()[-1] if " " in sec else ""
        if sec.startswith("Info ") and "=" in s:
            key, val = s.split("=", 1)
            out.setdefault(k, {"rows": []})[key] = val
        elif sec.startswith("Data ") and s:
            out.setdefault(k, {"rows": []})["rows"].append([float(t) for t in s.split()])
    return list(out.values())


def _own_casa_text(path: Path) -> list[dict]:
    """Blocks of a CasaXPS text export: title, and the B.E. and CPS columns."""
    lines = path.read_text().splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if line.split("\t")[0] == "K.E.":
            names = line.split("\t")
            title = max(j for j in range(i) if "Characteristic Energy" in lines[j]) - 1
            blocks.append({"title": lines[title], "names": names, "rows": [], "at": i})
        elif blocks and line.strip() and (line[0].isdigit() or line.startswith("-")):
            blocks[-1]["rows"].append([float(t) if t else np.nan for t in line.split("\t")])
    for b in blocks:
        arr = np.array(b.pop("rows"))
        b["be"], b["cps"] = arr[:, b["names"].index("B.E.")], arr[:, b["names"].index("CPS")]
    return blocks


def _own_vamas_regular(path: Path) -> tuple[float, float, float, np.ndarray]:
    """(hv, abscissa start, increment, first-variable ordinates) of a one-block REGULAR VAMAS
    file, from the ISO 14976 block layout: the abscissa label line is followed by its units,
    start and increment, then the corresponding variables, signal mode, collection time, scans,
    time correction, the additional parameters, the number of ordinates, their ranges and the
    ordinates interleaved by variable."""
    lines = [s.strip() for s in path.read_text(errors="replace").splitlines()]
    i = next(k for k, s in enumerate(lines) if s.lower() in ("kinetic energy", "binding energy"))
    start, step, n_var = float(lines[i + 2]), float(lines[i + 3]), int(lines[i + 4])
    j = i + 5 + 2 * n_var + 7  # signal mode, time, scans, correction, tilt x2, rotation: n_add
    n_add = int(lines[j])
    j += 1 + 3 * n_add
    n_values = int(lines[j])
    data = np.array(lines[j + 1 + 2 * n_var: j + 1 + 2 * n_var + n_values], dtype=float)
    k = lines.index("XPS") + 1  # technique; then the experimental variables' values, the
    while re.fullmatch(r"[-+0-9.eE]+", lines[k]):  # source label and its energy
        k += 1
    hv = float(lines[k + 1])
    return hv, start, step, data.reshape(-1, n_var)[:, 0]


# --------------------------------------------------------------------------------------------
# the references


def _pynx(path: Path) -> dict:
    """pynxtools-xps' spectra of a file, by entry name."""
    from pynxtools_xps.parsers.scienta.igor_parser import ScientaIgorParser
    from pynxtools_xps.parsers.scienta.txt_parser import ScientaTXTParser
    from pynxtools_xps.parsers.specs.xy.parser import SPECSXYParser
    from pynxtools_xps.parsers.vms.parser import VamasParser
    from pynxtools_xps.parsers.vms_export.parser_export import VamasExportParser

    parsers = {".xy": [SPECSXYParser], ".ibw": [ScientaIgorParser], ".vms": [VamasParser],
               ".txt": [ScientaTXTParser, VamasExportParser]}[path.suffix]
    for cls in parsers:
        parser = cls()
        if not parser.matches_file(path):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parser.parse(path)
        return {k: v for k, v in parser.data.items() if v.data is not None}
    raise AssertionError(f"no pynxtools-xps parser takes {path.name}")


def _pynx_curve(spec, cycle: int = 0) -> tuple[np.ndarray, np.ndarray]:
    d = spec.data
    axis = [c for c in d.dims if c not in ("cycle", "scan", "channel")][0]
    return d.coords[axis].values, d.isel(cycle=cycle).mean(dim="scan").values


def _check_vamas(path, spectra, notes):
    (s,) = spectra
    problems = []
    if "irregular" in path.name:
        regular = read_xps(FOLDER / "examples" / "vms" / "regular.vms")[0]
        problems.append(_same(s.binding_energy_ev, regular.binding_energy_ev, "BE vs regular.vms"))
        problems.append(_same(_per_second(s), _per_second(regular), "counts/s vs regular.vms",
                              rtol=1e-5))
        notes.append("IRREGULAR layout equals regular.vms (BE, counts/s)")
    else:
        hv, start, step, y = _own_vamas_regular(path)
        be, y = _ascending(hv - (start + step * np.arange(y.size)), y)
        problems += [_same(s.binding_energy_ev, be, "BE vs ISO 14976 layout"),
                     _same(s.intensity, y, "counts vs ISO 14976 layout")]
        notes.append("ISO 14976 layout")
        if HAS_VAMAS:
            import vamas

            (b,) = vamas.Vamas(str(path)).blocks
            x = float(b.x_start) + float(b.x_step) * np.arange(b.num_y_values // 2)
            be, y = _ascending(float(b.analysis_source_characteristic_energy) - x,
                               b.corresponding_variables[0].y_values)
            problems += [_same(s.binding_energy_ev, be, "BE vs vamas"),
                         _same(s.intensity, y, "counts vs vamas")]
            notes.append("vamas")
    if HAS_PYNX:
        (ref,) = _pynx(path).values()
        ke, y = _pynx_curve(ref)
        be, y = _ascending(ref.metadata["excitation_energy"] - ke, y)
        problems += [_same(s.binding_energy_ev, be, "BE vs pynxtools-xps"),
                     _same(_per_second(s), y, "counts/s vs pynxtools-xps", rtol=0,
                           atol=0.00501)]
        notes.append("pynxtools-xps (counts/s; it rounds VAMAS intensities to 0.01)")
    return problems


def _slug(text: str) -> str:
    """A group name as pynxtools-xps writes it into an entry name, with separators collapsed."""
    return re.sub(r"[\W_]+", "_", text).strip("_")


def _check_specs_xy(path, spectra, notes):
    own, n_skipped = _own_specs_xy(path)
    problems = [] if len(own) == len(spectra) else [f"{len(spectra)} spectra, {len(own)} curves"]
    skipped = spectra[0].metadata["skipped_curves"]
    if len(skipped) != n_skipped:
        problems.append(f"{len(skipped)} curves left out, {n_skipped} are not energy curves")
    for s, c in zip(spectra, own):
        be, y = _ascending(c["x"], c["y"])  # the export's axis is binding energy
        problems += [_same(s.binding_energy_ev, be, f"{s.label} BE"),
                     _same(s.intensity, y, f"{s.label} counts/s")]
        if (s.sample, s.metadata["region_name"]) != (c["group"], c["region"]):
            problems.append(f"{s.label}: group/region {s.sample!r}/{s.metadata['region_name']!r}")
    notes.append(f"{len(own)} curves from the .xy layout, {n_skipped} non-energy curves left out")
    if HAS_PYNX:
        ref = _pynx(path)
        for key, spec in ref.items():
            if spec.metadata.get("scan_mode") == "fixed_energy":
                continue  # the alignment scans xpipe leaves out
            region = spec.metadata["region_name"]
            mine = [s for s in spectra if s.metadata["region_name"] == region
                    and _slug(s.sample) == _slug(key.rsplit("__", 1)[0])]
            for cycle in range(spec.data.sizes["cycle"]):
                x, y = _pynx_curve(spec, cycle)
                at = [s for s in mine if s.metadata["cycle_curve_scan"].get("cycle", 0) == cycle
                      and len(s) == x.size]
                if not at:
                    problems.append(f"pynxtools-xps {key} cycle {cycle}: no xpipe spectrum")
                    continue
                be, y = _ascending(x, y)
                problems += [_same(at[-1].binding_energy_ev, be, f"{key} BE vs pynxtools-xps"),
                             _same(at[-1].intensity, y, f"{key} vs pynxtools-xps")]
            if len({s.metadata["spectrum_id"] for s in mine}) > 1:
                notes.append(f"pynxtools-xps keeps one of the {len(mine)} {region!r} regions of "
                             f"{key.rsplit('__', 1)[0]!r}, xpipe all")
        notes.append(f"pynxtools-xps ({len(ref)} entries)")
    return problems


def _check_scienta(path, spectra, notes):
    problems = []
    if path.suffix == ".txt":
        own = _own_scienta_txt(path)
        for s, r in zip(spectra, own):
            arr = np.array(r["rows"])
            x = arr[:, 0] if r["Energy Scale"] == "Binding" \
                else float(r["Excitation Energy"]) - arr[:, 0]
            be, y = _ascending(x, arr[:, 1])
            problems += [_same(s.binding_energy_ev, be, "BE vs [Data n]"),
                         _same(s.intensity, y, "intensity vs [Data n]")]
        problems.append("" if len(own) == len(spectra) else f"{len(spectra)} of {len(own)} regions")
        notes.append("[Data n] sections")
    elif HAS_IGOR:
        from igor2 import binarywave

        wave = binarywave.load(str(path))["wave"]
        head = wave["wave_header"]
        x = head["sfB"][0] + head["sfA"][0] * np.arange(wave["wData"].size)
        be, y = _ascending(x, wave["wData"])
        problems += [_same(spectra[0].binding_energy_ev, be, "BE vs igor2"),
                     _same(spectra[0].intensity, y, "intensity vs igor2")]
        notes.append("igor2")
    else:
        notes.append("igor2 not installed: no independent .ibw comparison")
    if HAS_PYNX:
        ref = list(_pynx(path).values())
        problems.append("" if len(ref) == len(spectra) else f"pynxtools-xps: {len(ref)} regions")
        for s, r in zip(spectra, ref):
            be, y = _ascending(*_pynx_curve(r))
            problems += [_same(s.binding_energy_ev, be, "BE vs pynxtools-xps"),
                         _same(s.intensity, y, "intensity vs pynxtools-xps")]
            if (s.metadata["region_name"], s.photon_energy_ev) != \
                    (r.metadata["region_name"], r.metadata["excitation_energy"]):
                problems.append(f"region/hv {s.metadata['region_name']}/{s.photon_energy_ev}")
        notes.append("pynxtools-xps")
    return problems


def _check_casa_text(path, spectra, notes):
    own = _own_casa_text(path)
    problems = [] if len(own) == len(spectra) else [f"{len(spectra)} spectra, {len(own)} blocks"]
    for s, b in zip(spectra, own):
        be, y = _ascending(b["be"], b["cps"])
        problems += [_same(s.binding_energy_ev, be, f"{s.label} BE"),
                     _same(s.intensity, y, f"{s.label} CPS")]
        problems.append("" if s.label == b["title"] else f"label {s.label!r}")
    notes.append(f"{len(own)} blocks from the text layout")
    if HAS_PYNX:
        ref = list(_pynx(path).values())
        problems.append("" if len(ref) == len(spectra) else f"pynxtools-xps: {len(ref)} spectra")
        for s, r in zip(spectra, ref):
            be, y = _ascending(*_pynx_curve(r))
            problems += [_same(s.binding_energy_ev, be, f"{s.label} BE vs pynxtools-xps"),
                         _same(s.intensity, y, f"{s.label} vs pynxtools-xps")]
        notes.append("pynxtools-xps")
    return problems


def _checker(path: Path, spectra):
    fmt = spectra[0].metadata["format"]
    return {"VAMAS": _check_vamas, "SPECS xy": _check_specs_xy, "Scienta txt": _check_scienta,
            "Scienta ibw": _check_scienta, "CasaXPS text": _check_casa_text}[fmt]


@needs_corpus
@pytest.mark.parametrize("path", FILES or [pytest.param(None, marks=pytest.mark.skip(
    reason="../shared/data/corpus/xps/pynxtools_xps is not present"))],
    ids=lambda p: str(p.relative_to(FOLDER)) if p else "absent")
def test_corpus_file_reads_as_the_references_or_is_refused(path, corpus_row):
    refs = "+".join(n for n, ok in (("pynxtools-xps", HAS_PYNX), ("vamas", HAS_VAMAS),
                                    ("igor2", HAS_IGOR)) if ok) or "own layout parse"
    try:
        spectra = read_xps(path)
    except XpsReadError as err:
        msg = str(err)
        corpus_row("xps", path, "refused", refs, msg)
        assert "\n" not in msg and str(path) in msg, msg
        assert path.name in REFUSED and REFUSED[path.name] in msg, msg
        return
    except Exception as err:  # a traceback where a reason was due
        corpus_row("xps", path, "error", refs, f"{type(err).__name__}: {err}")
        raise
    assert path.name not in REFUSED, f"{path.name} was expected to be refused"
    notes: list[str] = []
    try:
        problems = [p for p in _checker(path, spectra)(path, spectra, notes) if p]
    except Exception as err:
        corpus_row("xps", path, "error", refs, f"comparison failed: {type(err).__name__}: {err}")
        raise
    missing = [n for n, ok in (("pynxtools-xps", HAS_PYNX),) if not ok]
    detail = f"{len(spectra)} spectra; " + "; ".join(notes)
    if missing:
        detail += f"; {', '.join(missing)} not installed: comparison skipped"
    corpus_row("xps", path, "differs" if problems else "identical", refs,
               "; ".join(problems[:3]) if problems else detail)
    assert not problems, problems[:5]
