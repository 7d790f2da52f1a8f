"""``xpipe inspect FILE [--json]``: what xpipe reads from any input file, or why it refuses it.

Every file of ``example_data/`` and of the real-file corpus is inspected through the command
line (text and JSON); the JSON report keeps its documented keys; a few files are checked
against what they hold (frames and frame shape, an XDI energy range, VAMAS block names,
BioLogic columns, a PONI geometry); a missing file and random bytes give one line and the
documented exit code.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import CORPUS, ROOT, needs_corpus

import xpipe.inspect as xi
from xpipe.cli import main
from xpipe.inspect import CANDIDATE_KEYS, COLUMN_KEYS, ITEM_KEYS, KEYS, SCHEMA

EXAMPLES = ROOT / "example_data"
EXAMPLE_FILES = sorted(p for p in EXAMPLES.rglob("*") if p.is_file())
CORPUS_FILES = (sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "LICENSE")
                if CORPUS.is_dir() else [])

#: the JSON report's keys as documented; a change here is a change of schema
DOCUMENTED_KEYS = ("schema", "path", "size_bytes", "ok", "error", "family", "format",
                   "format_description", "detected_by", "candidates", "items", "columns",
                   "n_points", "frames", "ranges", "timestamps", "warnings", "notes", "metadata")


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["inspect", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _check_report(path: Path, code: int, text: str, err: str, report: dict) -> None:
    """What every inspection promises, read or refused."""
    assert code in (0, 1), (path, code, err)
    assert list(report) == list(DOCUMENTED_KEYS)
    assert report["schema"] == SCHEMA
    assert report["ok"] is (code == 0)
    assert text.splitlines()[0].startswith(str(path))
    for cand in report["candidates"]:
        assert tuple(cand) == CANDIDATE_KEYS
    for item in report["items"]:
        assert tuple(item) == ITEM_KEYS
    for col in report["columns"]:
        assert tuple(col) == COLUMN_KEYS
    assert set(report["timestamps"]) == {"first", "last", "source"}
    if code == 0:
        assert err == "" and report["error"] is None
        assert report["family"] and report["format"] and report["detected_by"]
        assert "refused" not in text.splitlines()[1]
    else:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("xpipe inspect: "), err
        assert path.name in report["error"] and "\n" not in report["error"]
        assert "Traceback" not in err + text
        assert "refused" in text


def _inspect_both(capsys, path: Path) -> dict:
    code, text, err = _cli(capsys, str(path))
    code_json, out_json, err_json = _cli(capsys, str(path), "--json")
    report = json.loads(out_json)
    assert code_json == code and err_json == err
    _check_report(path, code, text, err, report)
    return report


def test_schema_keys_are_stable_and_documented():
    assert KEYS == DOCUMENTED_KEYS
    doc = (ROOT / "docs" / "inspect.md").read_text()
    for key in KEYS + CANDIDATE_KEYS + ITEM_KEYS + COLUMN_KEYS:
        assert f"`{key}`" in doc, key
        assert f"``{key}``" in xi.__doc__ or f"``{{{key}" in xi.__doc__ or key in xi.__doc__, key
    assert SCHEMA in doc and SCHEMA in xi.__doc__


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_example_file(capsys, path):
    report = _inspect_both(capsys, path)
    data_suffixes = {".cbf", ".xdi", ".vms", ".poni", ".cif"}
    if path.suffix in data_suffixes or path.name == "cycler.csv":
        assert report["ok"], report["error"]
    if path.suffix in (".md", ".json"):
        assert not report["ok"]


def test_frame_file(capsys):
    path = EXAMPLES / "nvp_operando" / "nvp_0001.cbf"
    report = _inspect_both(capsys, path)
    assert (report["family"], report["format"], report["detected_by"]) == ("frames", "cbf", "content")
    assert report["frames"]["count"] == 1
    import fabio

    data = fabio.open(str(path)).data
    assert report["frames"]["frame_shape"] == list(data.shape)
    assert report["frames"]["dtype"] == str(data.dtype)
    assert report["ranges"]["first_frame_counts"] == [float(data.min()), float(data.max())]
    assert report["timestamps"]["first"].startswith("2025-03-14T09:00:00")
    assert report["timestamps"]["source"] == "header"


def test_xdi_energy_range(capsys):
    path = EXAMPLES / "nvp_xanes" / "nvp_xanes_0.xdi"
    report = _inspect_both(capsys, path)
    energy = np.loadtxt(path, comments="#")[:, 0]
    assert (report["family"], report["format"], report["detected_by"]) == ("xas", "xdi", "content")
    assert report["ranges"]["energy_ev"] == pytest.approx([energy.min(), energy.max()])
    assert report["n_points"] == energy.size
    assert report["columns"][0] == {"name": "energy", "unit": "eV", "role": "energy"}
    item = report["items"][0]
    assert item["details"]["element"] == "V" and item["details"]["edge"] == "K"
    assert report["timestamps"]["first"].startswith("2025-03-15T")


def test_vamas_block_names(capsys):
    path = EXAMPLES / "nvp_xps" / "nvp_xps_0.vms"
    report = _inspect_both(capsys, path)
    assert (report["family"], report["format"]) == ("xps", "vamas")
    names = [i["name"] for i in report["items"]]
    assert names == ["V 2p/O 1s", "C 1s"]
    assert {i["kind"] for i in report["items"]} == {"block"}
    lines = path.read_text().splitlines()
    assert all(name in lines for name in names)  # each block starts with its identifier line
    assert report["n_points"] == sum(i["n_points"] for i in report["items"])


def test_cycler_csv_columns(capsys):
    report = _inspect_both(capsys, EXAMPLES / "nvp_operando" / "cycler.csv")
    assert (report["family"], report["format"], report["detected_by"]) == ("cycler", "csv", "suffix")
    assert [(c["name"], c["unit"]) for c in report["columns"]] == [
        ("time_s", "s"), ("voltage_v", "V"), ("current_ma", "mA"), ("capacity_mah", "mAh")]
    assert report["ranges"]["time_s"][0] == 0.0
    assert any("claimed by other families" in n for n in report["notes"])


def test_poni_geometry(capsys):
    report = _inspect_both(capsys, EXAMPLES / "nvp_operando" / "geometry.poni")
    meta = report["metadata"]
    assert report["family"] == "poni"
    assert meta["distance_m"] == 0.23 and meta["wavelength_m"] == 7.749e-11
    assert meta["energy_kev"] == pytest.approx(12.398419843 / 0.7749)
    assert meta["detector"] == "Pilatus300k" and meta["detector_config.orientation"] == 3


def test_cif_structure(capsys):
    report = _inspect_both(capsys, EXAMPLES / "nvp_operando" / "structures" / "V2O3_R-3c.cif")
    assert report["family"] == "structure"
    assert report["metadata"]["space_group"].replace(" ", "") == "R-3c:H"
    assert report["n_points"] == 2


def test_big_hdf5_stack_reads_one_frame(capsys, tmp_path):
    """A stack of 100 000 frames of 512 x 512 (100 GB once written) is listed from its metadata."""
    path = tmp_path / "stack.h5"
    with h5py.File(path, "w") as h5:
        ds = h5.create_dataset("entry/data/data", shape=(100_000, 512, 512), dtype="uint32",
                               chunks=(1, 512, 512), compression="gzip")
        ds[0] = 7
    start = time.perf_counter()
    report = _inspect_both(capsys, path)
    assert time.perf_counter() - start < 30
    frames = report["frames"]
    assert frames["count"] == 100_000 and frames["frame_shape"] == [512, 512]
    assert frames["dtype"] == "uint32"
    assert frames["datasets"][0]["path"] == "/entry/data/data"
    assert frames["datasets"][0]["chunks"] == [1, 512, 512]
    assert frames["datasets"][0]["compression"] == "gzip"
    assert report["ranges"]["first_frame_counts"] == [7.0, 7.0]


def test_family_option(capsys):
    path = EXAMPLES / "nvp_operando" / "cycler.csv"
    code, out, err = _cli(capsys, str(path), "--json", "--family", "pattern")
    report = json.loads(out)
    assert code == 1 and not report["ok"]
    assert [(c["family"], c["detected_by"]) for c in report["candidates"]] == [("pattern", "family")]
    assert "4 columns" in report["error"]


def test_warnings_logs_and_prints_are_captured(capsys, monkeypatch, tmp_path):
    """What a reader warns, logs or prints is in the report, and --json stays one JSON object."""

    def noisy(path, fmt):
        warnings.warn("odd header", UserWarning, stacklevel=1)
        logging.getLogger("xpipe.echem").warning("3 rows dropped")
        print("reader chatter")
        return {"n_points": 1}

    monkeypatch.setitem(xi.DESCRIBE, "cycler", noisy)
    path = tmp_path / "cell.csv"
    path.write_text("time/s,Ewe/V,I/mA\n0,3.2,2\n")
    code, out, err = _cli(capsys, str(path), "--json")
    report = json.loads(out)
    assert code == 0
    assert report["warnings"] == ["warning (xpipe.echem): 3 rows dropped", "UserWarning: odd header",
                                  "printed: reader chatter"]


def test_unexpected_reader_failure(capsys, monkeypatch, tmp_path):
    def broken(path, fmt):
        raise RuntimeError("reader bug")

    monkeypatch.setitem(xi.DESCRIBE, "cycler", broken)
    path = tmp_path / "cell.mpt"
    path.write_text("EC-Lab ASCII FILE\n")
    code, out, err = _cli(capsys, str(path), "--json")
    report = json.loads(out)
    assert code == 1 and report["candidates"][0]["outcome"] == "error"
    assert "RuntimeError: reader bug" in report["error"] and "Traceback" not in err
    code, out, err = _cli(capsys, str(path), "--debug")
    assert code == 1 and "Traceback" in err and err.strip().splitlines()[-1].startswith("xpipe inspect:")


def _user(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xpipe", "inspect", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def test_cli_as_a_user_runs_it(tmp_path):
    res = _user("example_data/nvp_operando/nvp_0001.cbf")
    assert res.returncode == 0 and res.stderr == ""
    assert "frames       1 frame(s), each 619 x 487 (rows x columns) int32" in res.stdout
    res = _user("example_data/nvp_xanes/nvp_xanes_0.xdi", "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["family"] == "xas"


def test_missing_file_and_folder(tmp_path):
    missing = tmp_path / "gone.cbf"
    res = _user(str(missing))
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr == f"xpipe inspect: {missing}: no such file\n"
    res = _user(str(missing), "--json")
    report = json.loads(res.stdout)
    assert res.returncode == 2 and report["ok"] is False and "no such file" in report["error"]
    res = _user(str(tmp_path))
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "is a folder" in res.stderr
    fifo = tmp_path / "pipe.xdi"
    os.mkfifo(fifo)  # reading it would wait for a writer for ever
    res = _user(str(fifo))
    assert res.returncode == 2 and "not a regular file" in res.stderr


def test_random_binary_and_empty_file(tmp_path):
    noise = tmp_path / "noise.bin"
    noise.write_bytes(np.random.default_rng(0).bytes(65536))
    res = _user(str(noise))
    assert res.returncode == 1 and res.stderr.count("\n") == 1
    assert res.stderr.startswith(f"xpipe inspect: {noise}: no xpipe reader recognises this file")
    assert "Traceback" not in res.stdout + res.stderr
    res = _user(str(noise), "--json")
    assert res.returncode == 1 and json.loads(res.stdout)["ok"] is False
    empty = tmp_path / "empty.xdi"
    empty.write_bytes(b"")
    res = _user(str(empty))
    assert res.returncode == 1 and "the file is empty" in res.stderr


def _reference_points(family: str, path: Path, unit: str | None = None) -> int:
    """The points (frames, records) the family's own dispatcher reads, format auto."""
    if family == "frames":
        from xpipe.io.frames import expand_inputs

        return len(expand_inputs([str(path)], path.parent))
    if family == "xas":
        from xpipe.xas.readers import read_scan

        return sum(s.energy_ev.size for s in read_scan(path))
    if family == "xps":
        from xpipe.xps.readers import read_xps

        return sum(len(s) for s in read_xps(path))
    if family == "cycler":
        from xpipe.echem.readers import read_cycler

        return len(read_cycler(path))
    if family == "pattern":
        from xpipe.io.patterns import read_pattern

        return read_pattern(path, unit=unit or "2th_deg").n_points
    raise AssertionError(family)


@needs_corpus
@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_file(capsys, corpus_row, path):
    """Inspect agrees with the family's reader: the same points when it reads, or its refusal."""
    report = _inspect_both(capsys, path)
    family = report["family"]
    if family in ("poni", "structure", "recipe"):
        corpus_row("inspect", path, "identical" if report["ok"] else "refused", "xpipe readers",
                   report["error"] or family)
        return
    if not report["ok"]:
        assert report["error"]
        if report["detected_by"] != "fallback":
            with pytest.raises(Exception):  # noqa: B017 - whichever read error the family raises
                _reference_points(family, path, report["metadata"].get("unit"))
        corpus_row("inspect", path, "refused", "xpipe readers", report["error"])
        return
    expected = _reference_points(family, path, report["metadata"].get("unit"))
    outcome = "identical" if expected == report["n_points"] else "differs"
    corpus_row("inspect", path, outcome, "xpipe readers",
               f"{family}/{report['format']}: {report['n_points']} points, the reader {expected}")
    assert outcome == "identical"
