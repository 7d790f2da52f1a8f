"""Operando XRD from already-reduced 1D patterns (``xrd.patterns``): the readers, the recipe
section, the stage's results layout, differing grids, failures, resume, and the real Mythen
coin-cell series when ../shared/data is present."""

from __future__ import annotations

import csv
import hashlib
import logging
import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from xpipe.cli import main
from xpipe.io.patterns import PatternReadError, read_pattern
from xpipe.recipe.model import load_recipe
from xpipe.recipe.schema import RecipeInvalid
from xpipe.results import open_results
from xpipe.stages.xrd_patterns import onto_grid

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
COINCELL = SHARED_DATA / "xrd" / "operando_coincell_mythen" / "coincell8_LDE2"
needs_coincell = pytest.mark.skipif(
    not COINCELL.is_dir(),
    reason=f"real Mythen coin-cell data not present at {COINCELL} (../shared/data is not shipped with the repository)",
)

WAVELENGTH_A = 0.7749


# ----------------------------------------------------------------------------- helpers


def profile(x: np.ndarray, peaks: list[float], height: float = 1000.0, width: float = 0.02, bg: float = 50.0) -> np.ndarray:
    """Gaussian peaks of standard deviation ``width`` on a flat background."""
    return bg + sum(height * np.exp(-0.5 * ((x - p) / width) ** 2) for p in peaks)


def write_columns(path: Path, cols: list[np.ndarray], header: str = "", fmt: str = "%.6f", sep: str = " ") -> Path:
    np.savetxt(path, np.column_stack(cols), fmt=fmt, delimiter=sep, header=header, comments="# ")
    return path


def run(recipe: Path, out: Path, *extra: str) -> int:
    return main(["run", str(recipe), "-o", str(out), "-q", "--workers", "1", *extra])


def recipe_file(folder: Path, body: str) -> Path:
    path = folder / "recipe.yaml"
    path.write_text("name: patterns test\nrun:\n  chunk_frames: 2\nxrd:\n" + body)
    return path


def problems(folder: Path, body: str) -> list[str]:
    with pytest.raises(RecipeInvalid) as err:
        load_recipe(recipe_file(folder, body))
    return [p.format("recipe.yaml") for p in err.value.problems]


@pytest.fixture()
def xy_series(tmp_path: Path) -> Path:
    """Six 2-column .xy patterns (no sigma) with header times one minute apart, 20 s exposures;
    a peak moving from 10.00 to 10.05 deg."""
    rng = np.random.default_rng(3)
    x = np.round(np.arange(8.0, 16.0, 0.005), 6)
    for i in range(6):
        y = rng.poisson(profile(x, [10.0 + 0.01 * i, 12.5, 14.0 - 0.01 * i])).astype(float)
        header = f"date: 2025-03-14T09:{i:02d}:00\nexposure_time: 20 s\n2th_deg I"
        write_columns(tmp_path / f"scan_{i + 1}.xy", [x, y], header=header)
    return tmp_path


# ----------------------------------------------------------------------------- readers


def test_reads_xye_with_sigma_and_header(tmp_path):
    x = np.linspace(5, 6, 50)
    path = write_columns(tmp_path / "a.xye", [x, 100 + x, np.full(50, 3.0)], header="written by a diffractometer")
    p = read_pattern(path)
    np.testing.assert_allclose(p.x, x, atol=1e-6)
    np.testing.assert_allclose(p.sigma, 3.0)
    assert p.reader == "xye" and p.time is None and p.header_lines == ["written by a diffractometer"]


def test_reads_csv_chi_and_fxye(tmp_path):
    x = np.linspace(1.0, 3.0, 40)
    y = 10 + 5 * x
    (tmp_path / "a.csv").write_text("q,intensity,error\n" + "\n".join(f"{a},{b},{1.5}" for a, b in zip(x, y)) + "\n")
    p = read_pattern(tmp_path / "a.csv", unit="q_A^-1")
    np.testing.assert_allclose(p.intensity, y)
    np.testing.assert_allclose(p.sigma, 1.5)
    assert p.header_lines == ["q,intensity,error"]

    chi = "pattern of sample 7\n2-Theta Angle (Degrees)\nIntensity\n       40\n"
    (tmp_path / "a.chi").write_text(chi + "\n".join(f"  {a:.6f}  {b:.4f}" for a, b in zip(x, y)) + "\n")
    p = read_pattern(tmp_path / "a.chi")
    assert p.reader == "chi" and p.sigma is None and p.x.size == 40
    assert p.header_lines[1] == "2-Theta Angle (Degrees)"
    with pytest.raises(PatternReadError, match=r"a\.chi'.*2-Theta Angle.*'q_A\^-1'"):
        read_pattern(tmp_path / "a.chi", unit="q_A^-1")

    fxye = "sample title\nBANK 1 40 40 CONS 100.0 5.128 0 0 FXYE\n"
    (tmp_path / "a.fxye").write_text(fxye + "\n".join(f"{100 * a:.4f} {b:.3f} {2.0:.3f}" for a, b in zip(x, y)) + "\n")
    p = read_pattern(tmp_path / "a.fxye")
    np.testing.assert_allclose(p.x, x, atol=1e-6)  # centidegrees -> degrees
    np.testing.assert_allclose(p.sigma, 2.0)


def test_header_time_exposure_and_key_values(tmp_path):
    x = np.linspace(5, 6, 30)
    path = write_columns(tmp_path / "a.dat", [x, x], header="Sample: NVP cell 3\nStart = Thu Mar 14 09:00:00 2025\nCounting time: 500 ms")
    p = read_pattern(path)
    assert p.header["Sample"] == "NVP cell 3"
    assert p.time.start.isoformat() == "2025-03-14T09:00:00" and p.time.exposure_s == pytest.approx(0.5)


def test_decreasing_x_is_reversed_and_nan_rows_dropped(tmp_path):
    x = np.linspace(20, 10, 100)
    y = 100 + x
    y[[5, 50]] = np.nan
    path = write_columns(tmp_path / "a.xy", [x, y], fmt="%.6g")
    with open(path, "a") as fh:
        fh.write("-- detector gap --\n")  # text after the data: a dropped row, not a header
    p = read_pattern(path)
    assert p.x[0] == pytest.approx(10) and np.all(np.diff(p.x) > 0)
    assert p.n_points == 98 and p.dropped_rows == 3


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("empty.xy", "", "is empty"),
        ("words.xy", "no numbers here\nat all\n", "no numeric data rows"),
        ("short.xy", "1 2\n2 3\n3 4\n", "3 data points; a pattern needs at least 10"),
        ("zigzag.xy", "".join(f"{v} 5\n" for v in [1, 2, 3, 4, 5, 4.5, 6, 7, 8, 9, 10, 11]), "x is not monotonic (5 is followed by 4.5)"),
        ("ragged.xy", "".join(f"{v} 5 1\n" for v in range(12)) + "12 5\n", "line 13: 2 columns"),
        ("four.xy", "".join(f"{v} 5 1 0\n" for v in range(12)), "has 4 columns; expected 2"),
        ("two.xye", "".join(f"{v} 5\n" for v in range(12)), "a xye file has 3 columns"),
        ("nans.xy", "".join(f"{v} nan\n" for v in range(12)) + "".join(f"{v} 1\n" for v in range(12, 20)), "12 of 20 data rows are NaN"),
        ("units.xy", "# q_nm^-1 I\n" + "".join(f"{v} 5\n" for v in range(12)), "column titles say the x axis is 'q_nm^-1'"),
        ("pattern.raw", "1 2\n", "unknown pattern format '.raw'"),
    ],
)
def test_bad_files_raise_a_message_naming_the_file(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(PatternReadError) as err:
        read_pattern(path)
    assert name in str(err.value) and message in str(err.value)


def test_missing_file_and_columns(tmp_path):
    with pytest.raises(PatternReadError, match="nowhere.xy' does not exist"):
        read_pattern(tmp_path / "nowhere.xy")
    x = np.linspace(1, 2, 20)
    path = write_columns(tmp_path / "wide.dat", [np.zeros(20), x, 7 * x, x / 10])
    p = read_pattern(path, columns=[1, 2, 3])
    np.testing.assert_allclose(p.intensity, 7 * x, rtol=1e-6)
    np.testing.assert_allclose(p.sigma, x / 10, rtol=1e-5)


def test_onto_grid_copies_subsets_and_interpolates_the_rest():
    grid = np.arange(0.0, 1.0001, 0.1)
    sub = np.delete(grid, 4)  # one row dropped from a file: stays NaN, is not bridged
    out = onto_grid(grid, sub, np.delete(grid * 2, 4))
    assert np.isnan(out[4]) and np.allclose(np.delete(out, 4), np.delete(grid * 2, 4))
    shifted = np.arange(0.05, 0.96, 0.1)
    out = onto_grid(grid, shifted, shifted * 3)
    assert np.isnan(out[0]) and np.isnan(out[-1])
    np.testing.assert_allclose(out[1:-1], grid[1:-1] * 3)


# ----------------------------------------------------------------------------- recipe


def test_frames_and_patterns_both_is_an_error(xy_series):
    body = ("  frames:\n    files: 'scan_*.xy'\n  integrate:\n    geometry: {detector: Pilatus100k, distance_m: 0.1, "
            "poni1_m: 0, poni2_m: 0, wavelength_a: 1.0}\n  patterns:\n    files: 'scan_*.xy'\n")
    found = problems(xy_series, body)
    assert any("xrd.patterns: give either xrd.frames with xrd.integrate" in m and "found xrd.frames and xrd.integrate and xrd.patterns" in m
               for m in found), found


def test_neither_frames_nor_patterns_is_an_error(tmp_path):
    found = problems(tmp_path, "  peaks: {}\n")
    assert any("xrd.frames: missing required key: give xrd.frames with xrd.integrate" in m and "or xrd.patterns" in m for m in found), found


def test_phases_need_a_wavelength(xy_series):
    body = ("  patterns:\n    files: 'scan_*.xy'\n  peaks: {}\n"
            "  phases:\n    - {name: Al, space_group: 'F m -3 m', cell: {a: 4.05}}\n")
    found = problems(xy_series, body)
    assert any("xrd.patterns.wavelength_a: xrd.phases needs the X-ray wavelength" in m for m in found), found
    load_recipe(recipe_file(xy_series, body.replace("'scan_*.xy'\n", "'scan_*.xy'\n    wavelength_a: 0.7749\n", 1)))


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("    files: 'nothing_*.xye'\n", "xrd.patterns.files: no file matches 'nothing_*.xye'"),
        ("    files: 'scan_*.xy'\n    time_source: scan_log\n", "xrd.patterns.scan_log: time_source is 'scan_log' but no scan_log is given"),
        ("    files: 'scan_*.xy'\n    columns: [0]\n", "xrd.patterns.columns: expected 2 or 3 different column numbers"),
        ("    files: 'scan_*.xy'\n    unit: 2theta\n", "xrd.patterns.unit: expected one of '2th_deg', 'q_A^-1', 'q_nm^-1'"),
        ("    files: 'scan_*.xy'\n    scan_log: {file: log.csv}\n", "xrd.patterns.scan_log: 6 pattern file(s) have no row in"),
        ("    files: '*.yaml'\n", "xrd.patterns.files: 1 file(s) of an unknown pattern format, e.g. 'recipe.yaml'"),
    ],
)
def test_patterns_section_messages(xy_series, section, message):
    (xy_series / "log.csv").write_text("file,start_time,end_time\nother.xy,2025-01-01T00:00:00,2025-01-01T00:01:00\n")
    found = problems(xy_series, "  patterns:\n" + section)
    assert any(message in m for m in found), found


# ----------------------------------------------------------------------------- runs


def test_xy_without_sigma_poisson_header_times_and_exports(xy_series):
    recipe = recipe_file(xy_series, "  patterns:\n    files: 'scan_*.xy'\n    error_model: poisson\n"
                                    "  export: {xye: true}\n  peaks: {range: [9.0, 15.0]}\n")
    assert run(recipe, xy_series / "out") == 0
    out = xy_series / "out"
    with open_results(out / "results.h5") as res:
        s = res.patterns()
        assert s.n_frames == 6 and s.unit == "2th_deg" and s.radial_name == "two_theta_deg"
        np.testing.assert_allclose(s.sigma, np.sqrt(np.maximum(s.intensity, 1.0)), rtol=1e-6)
        np.testing.assert_allclose(s.frame_time_s, 10 + 60 * np.arange(6))  # mid-exposure
        assert s.start_time == "2025-03-14T09:00:00"
        assert s.d_spacing_a is None and s.wavelength_a is None  # no wavelength: no d axis
        g = res.entry["xrd/integrated"]
        assert [v.decode() for v in g["time_source"][()]] == ["header"] * 6
        assert set(v.decode() for v in res.entry["xrd/patterns/sigma_source"][()]) == {"poisson"}
        pos = res.entry["xrd/peaks/position"][()]
    track = np.nanargmin(np.abs(pos[0] - 10.0))
    np.testing.assert_allclose(pos[:, track], 10.0 + 0.01 * np.arange(6), atol=0.003)
    assert len(list((out / "xye").glob("*.xye"))) == 6
    assert "pattern read from" in (out / "xye" / "scan_1.xye").read_text()

    # the default error model takes sigma from the file: these files have none
    recipe = recipe_file(xy_series, "  patterns:\n    files: 'scan_*.xy'\n  peaks: {range: [9.0, 15.0]}\n")
    assert run(recipe, xy_series / "out2") == 0
    with open_results(xy_series / "out2" / "results.h5") as res:
        assert np.all(np.isnan(res.patterns().sigma))
        assert res.entry["xrd/peaks/position"].shape[0] == 6
        assert res.entry["xrd/patterns/sigma_source"][0].decode() == "none (the file has no sigma column)"


@pytest.mark.parametrize("grid", ["common", "first"])
def test_differing_grids_are_interpolated_onto_the_first(tmp_path, grid):
    x0 = np.round(np.arange(10.0, 20.0001, 0.01), 6)
    x1 = np.round(np.arange(10.205, 20.5, 0.01), 6)  # offset by half a step, other range
    line = lambda x: 100.0 + 3.0 * x  # noqa: E731 - linear: interpolation is exact
    write_columns(tmp_path / "p_1.xye", [x0, line(x0), np.full(x0.size, 2.0)])
    write_columns(tmp_path / "p_2.xye", [x1, line(x1), np.full(x1.size, 2.0)])
    write_columns(tmp_path / "p_3.xye", [x0, line(x0), np.full(x0.size, 2.0)])
    recipe = recipe_file(tmp_path, f"  patterns:\n    files: 'p_*.xye'\n    grid: {grid}\n")
    assert run(recipe, tmp_path / "out") == 0
    with open_results(tmp_path / "out" / "results.h5") as res:
        s = res.patterns()
        proc = res.entry["xrd/patterns"]
        assert proc["n_interpolated"][()] == 1
        assert list(proc["interpolated"][()]) == [False, True, False]
        assert proc["grid_used"][()].decode() == grid
        assert "p_1.xye" in proc["grid_handling"][()].decode()
    if grid == "common":
        assert s.radial[0] == pytest.approx(10.21) and s.radial[-1] == pytest.approx(20.0)
        assert np.all(np.isfinite(s.intensity))
    else:
        np.testing.assert_allclose(s.radial, x0)
        assert np.isnan(s.intensity[1, 0]) and np.isfinite(s.intensity[1, -1])
    ok = np.isfinite(s.intensity[1])
    np.testing.assert_allclose(s.intensity[1, ok], line(s.radial[ok]), rtol=1e-6)
    np.testing.assert_allclose(s.intensity[0], line(s.radial), rtol=1e-6)


def test_bad_files_fail_alone_and_resume_gives_the_same_numbers(xy_series, caplog):
    (xy_series / "scan_7.xy").write_bytes(np.random.default_rng(0).bytes(3000))  # not text at all
    good = (xy_series / "scan_1.xy").read_text().splitlines()
    (xy_series / "scan_8.xy").write_text("\n".join(good[:-200] + [good[-1], good[-200]]) + "\n")  # out of order
    recipe = recipe_file(xy_series, "  patterns:\n    files: 'scan_*.xy'\n    error_model: poisson\n")
    recipe.write_text(recipe.read_text().replace("chunk_frames: 2", "chunk_frames: 1"))
    out = xy_series / "out"
    assert run(recipe, out) == 1
    with open_results(out / "results.h5") as res:
        s = res.patterns()
        failed = dict(res.failed())
        reference = (s.intensity.copy(), s.sigma.copy(), s.frame_time_s.copy(), s.radial.copy())
        status = [v.decode() for v in res.entry["xrd/patterns/status"][()]]
    assert s.n_frames == 6 and status == ["ok"] * 6 + ["failed"] * 2
    names = {Path(k).name: v for k, v in failed.items()}
    assert set(names) == {"scan_7.xy", "scan_8.xy"}
    assert "scan_7.xy" in names["scan_7.xy"] and "a pattern file is text" in names["scan_7.xy"]
    assert "scan_8.xy" in names["scan_8.xy"] and "not monotonic" in names["scan_8.xy"]
    rows = list(csv.DictReader((out / "xrd_frames.csv").open()))
    assert [r["status"] for r in rows] == ["ok"] * 6 + ["failed"] * 2

    # an interrupted run: the results and the last two chunks are gone
    chunks = sorted((out / ".xpipe" / "xrd.patterns").glob("chunk_*.npz"))
    assert len(chunks) == 8
    for p in [out / "results.h5", *chunks[4:6]]:
        p.unlink()
    caplog.set_level(logging.INFO, logger="xpipe")
    # without -q: the resume's info line says what was kept
    assert main(["run", str(recipe), "-o", str(out), "--workers", "1", "--resume"]) == 1
    assert "4 of 8 patterns already done" in caplog.text
    with open_results(out / "results.h5") as res:
        s = res.patterns()
        for a, b in zip(reference, (s.intensity, s.sigma, s.frame_time_s, s.radial)):
            np.testing.assert_array_equal(a, b)


def test_q_patterns_with_wavelength_give_d_spacing(tmp_path):
    q = np.linspace(1.0, 4.0, 300)
    for i in range(3):
        write_columns(tmp_path / f"q_{i}.xy", [q, profile(q, [2.0, 3.1], width=0.01)])
    recipe = recipe_file(tmp_path, "  patterns:\n    files: 'q_*.xy'\n    unit: q_A^-1\n    wavelength_a: 0.7749\n"
                                   "    range: [1.5, 3.5]\n")
    assert run(recipe, tmp_path / "out") == 0
    with open_results(tmp_path / "out" / "results.h5") as res:
        s = res.patterns()
        assert s.unit == "q_A^-1" and s.radial_name == "q_a_inv" and s.radial_units == "1/angstrom"
        assert s.wavelength_a == pytest.approx(0.7749)
        assert s.radial[0] >= 1.5 and s.radial[-1] <= 3.5
        np.testing.assert_allclose(s.d_spacing_a, 2 * np.pi / s.radial)
        assert res.integration_settings()["wavelength_a"] == pytest.approx(0.7749)


def test_cubic_cell_refined_from_2theta_patterns(tmp_path):
    """The phases stage works on patterns: an expanding cubic cell comes back frame by frame."""
    x = np.round(np.arange(8.0, 42.0, 0.004), 6)
    hkls = [(1, 1, 1), (2, 0, 0), (2, 2, 0), (3, 1, 1), (2, 2, 2), (4, 0, 0), (3, 3, 1), (4, 2, 0)]
    a_true = 4.05 + 0.004 * np.arange(6)
    rng = np.random.default_rng(5)
    for i, a in enumerate(a_true):
        peaks = [2 * math.degrees(math.asin(WAVELENGTH_A * math.sqrt(h * h + k * k + m * m) / (2 * a))) for h, k, m in hkls]
        y = rng.poisson(profile(x, peaks, height=2000.0, width=0.015)).astype(float)
        write_columns(tmp_path / f"al_{i}.xye", [x, y, np.sqrt(np.maximum(y, 1))])
    recipe = recipe_file(tmp_path, f"  patterns:\n    files: 'al_*.xye'\n    wavelength_a: {WAVELENGTH_A}\n"
                                   "  peaks: {}\n  phases:\n    - {name: Al, space_group: 'F m -3 m', cell: {a: 4.06}}\n")
    assert run(recipe, tmp_path / "out") == 0
    with h5py.File(tmp_path / "out" / "results.h5", "r") as h5:
        a = h5["entry/xrd/lattice/Al/a"][()]
        assert "d_spacing_a" in h5["entry/xrd/integrated"]
    np.testing.assert_allclose(a, a_true, atol=5e-4)
    assert (tmp_path / "out" / "figures" / "lattice.png").is_file()


# ----------------------------------------------------------------------------- real data


@needs_coincell
def test_real_mythen_coincell_series(tmp_path):
    files = sorted((COINCELL / "xrd_data").glob("*.xye"))
    recipe = tmp_path / "coincell.yaml"
    recipe.write_text(
        "name: coin cell 8 operando XRD (Mythen)\n"
        "xrd:\n"
        "  patterns:\n"
        f"    files: {COINCELL}/xrd_data/*.xye\n"
        "    scan_log:\n"
        f"      file: {COINCELL}/Log/log_operando_coincell8_LDE2_reduced.csv\n"
        "      file_column: scan_number\n"
        "  peaks:\n"
        "    range: [15.0, 36.5]        # the strong cathode reflections\n"
    )
    out = tmp_path / "out"
    assert run(recipe, out) == 0
    with open_results(out / "results.h5") as res:
        s = res.patterns()
        g = res.entry["xrd/integrated"]
        proc = res.entry["xrd/patterns"]
        assert s.n_frames == 5 and s.radial.size == 16553
        assert s.radial[0] == pytest.approx(2.08) and s.radial[-1] == pytest.approx(68.312)
        # mid-exposure times from the scan log: 19:05:59.614 + 56.553 s / 2, then every ~544 s
        assert s.start_time == "2025-07-02T19:05:59.614000"
        assert s.frame_time_s[0] == pytest.approx(56.553 / 2, abs=1e-3)
        np.testing.assert_allclose(np.diff(s.frame_time_s), 544.0, atol=2.0)
        assert [v.decode() for v in g["time_source"][()]] == ["scan_log"] * 5
        np.testing.assert_allclose(g["exposure_s"][0], 56.553)
        # the wavelength is not recorded: no d axis is invented
        assert s.wavelength_a is None and s.d_spacing_a is None
        # sigma is the file's third column
        raw = np.loadtxt(files[2])
        np.testing.assert_allclose(s.sigma[2], raw[:, 2], rtol=1e-6)
        np.testing.assert_allclose(s.intensity[2], raw[:, 1], rtol=1e-6)
        assert [v.decode() for v in proc["sigma_source"][()]] == ["file"] * 5
        assert proc["grid_used"][()].decode() == "as_read"
        assert proc["sha256"][0].decode() == hashlib.sha256(files[0].read_bytes()).hexdigest()
        pos = res.entry["xrd/peaks/position"][()]
        success = res.entry["xrd/peaks/success"][()]
    assert pos.shape[0] == 5
    everywhere = success.all(axis=0)
    assert everywhere.sum() >= 5, f"{everywhere.sum()} tracks fitted in all 5 patterns"
    assert np.all((pos[:, everywhere] > 15.0) & (pos[:, everywhere] < 36.5))
    rows = list(csv.DictReader((out / "xrd_frames.csv").open()))
    assert [r["status"] for r in rows] == ["ok"] * 5
    assert (out / "figures" / "xrd_contour.png").stat().st_size > 10_000
    assert (out / "figures" / "xrd_contour_tracked.png").is_file()
