"""XRD inputs as other tools write them: detector orientation (Dioptas calibrations), the mask
keys on Pilatus frames, PONI files without pixel sizes, scan logs in epoch seconds, and frames
whose headers hold no date."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from xpipe.cli import main
from xpipe.recipe.model import load_recipe
from xpipe.results import open_results
from xpipe.stages.xrd_integrate import IntegrateWorker, integrator_key
from xpipe.xrd.geometry import azimuthal_integrator

WAVELENGTH_A = 0.7749
EXPOSURE_S = 20.0


# ----------------------------------------------------------------------------- helpers


def off_centre_ai(detector: str = "Pilatus100k"):
    """A geometry whose beam centre lies well off the middle of the detector, so that the rings
    are not symmetric under an up-down flip of the image."""
    return azimuthal_integrator(detector, 0.10, 0.006, 0.025, 0.01, -0.02, 0.0, WAVELENGTH_A)


def ring_image(ai, peaks_deg=(9.0, 13.0, 17.5, 21.0)) -> np.ndarray:
    """Noise-free rings at ``peaks_deg`` (2theta) over a flat background, as float32 counts."""
    tth = np.linspace(0, 45, 9000)
    prof = 20.0 + sum(1000.0 * np.exp(-0.5 * ((tth - p) / 0.1) ** 2) for p in peaks_deg)
    img = ai.calcfrom1d(tth, prof, dim1_unit="2th_deg", correctSolidAngle=True, polarization_factor=0.99)
    return np.clip(img, 0, None).astype(np.float32)


def write_cbf(path: Path, data: np.ndarray, start: datetime | None = None) -> Path:
    import fabio

    lines = ["# Detector: PILATUS 100K (test)"]
    if start is not None:
        lines.append(f"# {start.isoformat(timespec='milliseconds')}")
    lines.append(f"# Exposure_time {EXPOSURE_S:.6f} s")
    header = {"_array_data.header_contents": "\r\n".join(lines) + "\r\n"}
    fabio.cbfimage.CbfImage(data=np.asarray(data, np.int32), header=header).write(str(path))
    return path


def write_tiff_without_date(path: Path, data: np.ndarray) -> Path:
    """A TIFF as many detectors and converters write it: pixels, no DateTime tag."""
    from PIL import Image

    Image.fromarray(np.asarray(data, np.int32)).save(path)
    return path


def write_recipe(folder: Path, frames: str, integrate: str = "", name: str = "recipe.yaml") -> Path:
    path = folder / name
    path.write_text(
        "name: xrd inputs test\n"
        "run:\n  executor: serial\n  chunk_frames: 4\n"
        "xrd:\n"
        "  frames:\n" + "".join(f"    {line}\n" for line in frames.strip().splitlines()) +
        "  integrate:\n    poni: geometry.poni\n    npt: 300\n" +
        "".join(f"    {line}\n" for line in integrate.strip().splitlines()) +
        "  figures:\n    contour: false\n"
    )
    return path


def run(recipe: Path, out: Path) -> int:
    return main(["run", str(recipe), "-o", str(out), "-q", "--workers", "1"])


def integrate_with(recipe: Path, image: np.ndarray):
    """Integrate ``image`` with the worker the recipe's xrd.integrate builds (as a run does)."""
    loaded = load_recipe(recipe)
    worker = IntegrateWorker(loaded.recipe.xrd.integrate, loaded.recipe.xrd.frames.refs)
    worker.setup()
    return worker, worker.integrator.integrate(image)


# ----------------------------------------------------------------------------- orientation


@pytest.fixture
def rings(tmp_path):
    """An off-centre ring image, the same image flipped up-down, the PONI (version 2.1,
    orientation 3) and one frame file for the recipes to list."""
    ai = off_centre_ai()
    ai.write(str(tmp_path / "geometry.poni"))
    img = ring_image(ai)
    write_cbf(tmp_path / "frame_1.cbf", img, datetime(2024, 3, 14, 9, 0, 0))
    return tmp_path, img


def test_orientation_2_integrates_the_image_as_flipped_up_down(rings):
    folder, img = rings
    flipped = np.ascontiguousarray(np.flipud(img))
    as_dioptas = write_recipe(folder, "files: frame_*.cbf", "orientation: 2\nmethod: bbox/csr/cython", "dioptas.yaml")
    as_pyfai = write_recipe(folder, "files: frame_*.cbf", "method: bbox/csr/cython", "pyfai.yaml")

    w2, p2 = integrate_with(as_dioptas, img)
    w3, p3_flipped = integrate_with(as_pyfai, flipped)
    _, p3_raw = integrate_with(as_pyfai, img)

    assert w2.integrator.ai.detector.orientation == 2
    assert w3.integrator.ai.detector.orientation == 3
    np.testing.assert_allclose(p2.radial, p3_flipped.radial, rtol=1e-12)
    strong = p3_flipped.intensity > 1e-3 * p3_flipped.intensity.max()
    assert strong.sum() > 100
    np.testing.assert_allclose(p2.intensity[strong], p3_flipped.intensity[strong], rtol=1e-6)
    # the rings are asymmetric: the unflipped image reads differently in the default orientation
    rel = np.abs(p3_raw.intensity[strong] - p3_flipped.intensity[strong]) / p3_flipped.intensity[strong]
    assert rel.max() > 0.05
    # an integrator is cached per configuration: the orientation is part of its key
    assert integrator_key(w2.cfg) != integrator_key(w3.cfg)
    assert w2.integrator is not w3.integrator


def test_orientation_out_of_range_is_refused(rings):
    folder, _ = rings
    recipe = write_recipe(folder, "files: frame_*.cbf", "orientation: 5")
    assert main(["validate", str(recipe)]) == 2


PONI_V2 = """# Nota: C-Order, 1 refers to the Y axis, 2 to the X axis
poni_version: 2
Detector: Pilatus100k
Detector_config: {{"pixel1": 0.000172, "pixel2": 0.000172, "max_shape": [195, 487]}}
Distance: 0.1
Poni1: 0.006
Poni2: 0.025
Rot1: 0.01
Rot2: -0.02
Rot3: 0.0
Wavelength: {wavelength}
"""


def test_validate_warns_when_the_poni_cannot_say_its_orientation(rings, caplog, capsys):
    folder, _ = rings
    (folder / "geometry.poni").write_text(PONI_V2.format(wavelength=WAVELENGTH_A * 1e-10))
    recipe = write_recipe(folder, "files: frame_*.cbf")
    caplog.set_level(logging.WARNING, logger="xpipe")
    assert main(["validate", str(recipe)]) == 0
    assert "valid" in capsys.readouterr().out
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{folder / 'geometry.poni'}: the image orientation of the calibration cannot be checked "
                                  "(PONI version 2; orientation arrives with version 2.1)")
    assert "Set xrd.integrate.orientation: 2 for a calibration made in Dioptas" in warnings[0]

    caplog.clear()  # stating the orientation in the recipe answers the question
    stated = write_recipe(folder, "files: frame_*.cbf", "orientation: 3", "stated.yaml")
    assert main(["validate", str(stated)]) == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_validate_is_quiet_about_a_poni_that_states_its_orientation(rings, caplog):
    folder, _ = rings  # written by pyFAI: version 2.1 with orientation 3
    assert '"orientation": 3' in (folder / "geometry.poni").read_text()
    caplog.set_level(logging.WARNING, logger="xpipe")
    assert main(["validate", str(write_recipe(folder, "files: frame_*.cbf"))]) == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# ----------------------------------------------------------------------------- mask keys


@pytest.mark.parametrize(
    ("use_detector_mask", "mask_negative", "expected"),
    [
        (True, True, 619 * 487 - 16558 - 1),  # module gaps and the -2 pixel out
        (True, False, 619 * 487 - 16558),  # module gaps out (the -1 lies in one), the -2 pixel in
        (False, True, 619 * 487 - 2),  # the gaps' pixels in, but not the two negative ones
        (False, False, 619 * 487),  # every pixel in
    ],
)
def test_mask_keys_decide_which_pilatus_pixels_count(tmp_path, monkeypatch, use_detector_mask, mask_negative, expected):
    ai = off_centre_ai("Pilatus300k")
    gaps = np.asarray(ai.detector.mask, bool)
    assert gaps.shape == (619, 487) and gaps.sum() == 16558
    ai.write(str(tmp_path / "geometry.poni"))
    frame = np.full(gaps.shape, 10, np.int32)
    gap_pixel = tuple(np.argwhere(gaps)[0])
    frame[gap_pixel] = -1  # as a Pilatus writes its module gaps
    frame[300, 100] = -2  # a dead pixel, outside the gaps
    assert not gaps[300, 100]
    write_cbf(tmp_path / "frame_1.cbf", frame, datetime(2024, 3, 14, 9, 0, 0))
    recipe = write_recipe(
        tmp_path, "files: frame_*.cbf",
        f"method: no/histogram/cython\nuse_detector_mask: {str(use_detector_mask).lower()}\n"
        f"mask_negative: {str(mask_negative).lower()}\nerror_model: none",
    )
    loaded = load_recipe(recipe)
    worker = IntegrateWorker(loaded.recipe.xrd.integrate, loaded.recipe.xrd.frames.refs)
    worker.setup()
    ai_used = worker.integrator.ai
    results = []
    real = ai_used.integrate1d

    def spy(*args, **kwargs):
        results.append(real(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(ai_used, "integrate1d", spy)
    out = worker.process([0])  # read from the CBF file by fabio, as a run does
    assert out["failures"] == []
    counted = results[-1].count.sum()  # pixels pyFAI binned (no splitting: whole pixels)
    assert counted == expected
    assert out["meta"][0]["valid_pixels"] == expected  # what the results file records


# ----------------------------------------------------------------------------- PONI without pixel sizes


PONI_NO_PIXELS = """poni_version: 2.1
Detector: Detector
Detector_config: {"pixel1": null, "pixel2": null, "max_shape": [195, 487], "orientation": 3}
Distance: 0.1
Poni1: 0.006
Poni2: 0.025
Rot1: 0.0
Rot2: 0.0
Rot3: 0.0
Wavelength: 7.749e-11
"""

PONI_NO_DETECTOR = """poni_version: 2.1
Distance: 0.1
Poni1: 0.006
Poni2: 0.025
Rot1: 0.0
Rot2: 0.0
Rot3: 0.0
Wavelength: 7.749e-11
"""


@pytest.mark.parametrize(
    ("poni", "message"),
    [
        (PONI_NO_PIXELS, "' gives no pixel size (pixel1 and pixel2 null or missing in its Detector_config; "
                         "detector 'Detector'), so no pixel can be placed; give the pixel sizes in metres"),
        (PONI_NO_DETECTOR, "' names no detector (no 'Detector:' line), so its pixel sizes are unknown; "
                           "add the pyFAI detector name"),
    ],
    ids=["null-pixels", "no-detector"],
)
def test_a_poni_without_pixel_sizes_is_refused_by_validate_and_run(tmp_path, capsys, poni, message):
    poni_path = tmp_path / "geometry.poni"
    poni_path.write_text(poni)
    write_cbf(tmp_path / "frame_1.cbf", np.ones((195, 487)), datetime(2024, 3, 14, 9, 0, 0))
    recipe = write_recipe(tmp_path, "files: frame_*.cbf")

    assert main(["validate", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert f"xrd.integrate.poni: '{poni_path}{message}" in err
    assert "Traceback" not in err

    assert run(recipe, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert f"xrd.integrate.poni: '{poni_path}{message}" in err
    assert "xpipe run: not started, the recipe is invalid" in err
    assert not (tmp_path / "out" / "results.h5").exists()


# ----------------------------------------------------------------------------- scan logs in epoch seconds


@pytest.fixture
def timed_frames(tmp_path):
    """Three frames on a Pilatus 100K with no date in their headers, and the PONI."""
    ai = off_centre_ai()
    ai.write(str(tmp_path / "geometry.poni"))
    img = ring_image(ai)
    for i in range(3):
        write_cbf(tmp_path / f"frame_{i + 1}.cbf", img * (1 + 0.1 * i))
    return tmp_path


def test_scan_log_in_epoch_seconds_gives_the_same_times_as_iso(timed_frames):
    folder = timed_frames
    starts = ["2024-03-14T09:00:00.123", "2024-03-14T09:01:30.623", "2024-03-14T09:05:00.001"]
    ends = ["2024-03-14T09:00:20.123", "2024-03-14T09:01:50.623", "2024-03-14T09:05:20.001"]

    def epoch(text: str) -> str:
        t = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
        return f"{int(t.timestamp())}.{t.microsecond // 1000:03d}"

    assert epoch(starts[0]) == "1710406800.123"
    (folder / "iso.csv").write_text(
        "file,start_time,end_time\n" + "".join(f"frame_{i + 1}.cbf,{s},{e}\n" for i, (s, e) in enumerate(zip(starts, ends)))
    )
    (folder / "epoch.csv").write_text(
        "file,start_time,end_time\n"
        + "".join(f"frame_{i + 1}.cbf,{epoch(s)},{epoch(e)}\n" for i, (s, e) in enumerate(zip(starts, ends)))
    )
    found = {}
    for log_name in ("iso", "epoch"):
        recipe = write_recipe(
            folder, f"files: frame_*.cbf\ntime_source: scan_log\nscan_log:\n  file: {log_name}.csv", name=f"{log_name}.yaml"
        )
        assert run(recipe, folder / log_name) == 0
        with open_results(folder / log_name / "results.h5") as res:
            stack = res.patterns()
            found[log_name] = np.asarray(stack.frame_time_s)
            assert [s.decode() if isinstance(s, bytes) else s for s in res.entry["xrd/integrated/time_source"][()]] == ["scan_log"] * 3
    np.testing.assert_array_equal(found["iso"], found["epoch"])
    np.testing.assert_allclose(found["epoch"], [10.0, 100.5, 309.878], rtol=0, atol=1e-9)


def test_scan_log_of_relative_seconds_is_refused_naming_the_line(timed_frames, capsys):
    folder = timed_frames
    (folder / "relative.csv").write_text("file,start_time\nframe_1.cbf,0.0\nframe_2.cbf,90.5\nframe_3.cbf,300\n")
    recipe = write_recipe(folder, "files: frame_*.cbf\nscan_log:\n  file: relative.csv\n  end_column: null")
    assert main(["validate", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert (f"xrd.frames.scan_log: scan log '{folder / 'relative.csv'}' line 2, column 'start_time': the number 0.0 "
            "is below 1e8, so not epoch seconds") in err


# ----------------------------------------------------------------------------- frames without a date


def test_header_time_source_on_tiff_without_date_is_refused(tmp_path, capsys):
    ai = off_centre_ai()
    ai.write(str(tmp_path / "geometry.poni"))
    img = ring_image(ai)
    for i in range(3):
        write_tiff_without_date(tmp_path / f"frame_{i + 1}.tif", img)
    recipe = write_recipe(tmp_path, "files: frame_*.tif\ntime_source: header")
    assert main(["validate", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert ("xrd.frames.time_source: time_source is 'header' but the header of 'frame_1.tif' holds no date "
            "(many TIFF files hold none), so its frame time would be NaN; set time_source to 'mtime' "
            "(file modification times) or 'scan_log'") in err
    assert run(recipe, tmp_path / "out") == 2
    assert "xpipe run: not started, the recipe is invalid" in capsys.readouterr().err

    # with 'auto' (the default) they are timed by their modification times
    auto = write_recipe(tmp_path, "files: frame_*.tif", name="auto.yaml")
    assert run(auto, tmp_path / "auto") == 0
    with open_results(tmp_path / "auto" / "results.h5") as res:
        assert np.all(np.isfinite(res.patterns().frame_time_s))


def test_a_frame_left_without_time_in_a_run_is_reported(tmp_path, caplog):
    """Validation judges the first and last file; a dateless frame between them is named in a
    warning, and its time is recorded as missing, not made up."""
    ai = off_centre_ai()
    ai.write(str(tmp_path / "geometry.poni"))
    img = ring_image(ai)
    write_cbf(tmp_path / "frame_1.cbf", img, datetime(2024, 3, 14, 9, 0, 0))
    write_tiff_without_date(tmp_path / "frame_2.tif", img)
    write_cbf(tmp_path / "frame_3.cbf", img, datetime(2024, 3, 14, 9, 2, 0))
    recipe = write_recipe(tmp_path, "files: [frame_1.cbf, frame_2.tif, frame_3.cbf]\ntime_source: header")
    caplog.set_level(logging.WARNING, logger="xpipe")
    assert run(recipe, tmp_path / "out") == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert ("xrd frames: 1 frame(s) have no time by xrd.frames.time_source 'header', e.g. frame_2.tif; "
            "their frame_time_s is NaN") in "\n".join(warnings)
    with open_results(tmp_path / "out" / "results.h5") as res:
        t = np.asarray(res.patterns().frame_time_s)
        sources = [s.decode() if isinstance(s, bytes) else s for s in res.entry["xrd/integrated/time_source"][()]]
    np.testing.assert_allclose(t[[0, 2]], [EXPOSURE_S / 2, 120 + EXPOSURE_S / 2])
    assert np.isnan(t[1])
    assert sources == ["header", "none", "header"]
