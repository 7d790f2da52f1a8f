"""Real NeXus/HDF5 frame files from Dioptas' test data, against h5py reading the dataset the file's
NeXus structure points to (and fabio for the TIFF mask).

Each file's outcome goes to the corpus table: ``identical`` (same frames, count and shape as the
reference; for 1D files, the same patterns), or ``refused`` with the reader's reason.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.conftest import CORPUS, needs_corpus
from xpipe.io.frames import FrameReader, FrameReadError, expand_inputs, open_hdf5
from xpipe.io.frames.lambda_modules import lambda_file, lambda_layout, module_region
from xpipe.io.geometry import load_image, read_poni_header
from xpipe.io.patterns import read_nexus_patterns

FOLDER = CORPUS / "frames" / "dioptas_nexus"
FILES = sorted(p for p in FOLDER.rglob("*") if p.is_file() and p.name != "LICENSE") if FOLDER.is_dir() else []

pytestmark = needs_corpus


def _text(value) -> str | None:
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.ravel()[0]
    return value.decode() if isinstance(value, bytes) else value


def _classed(group, nx_class: str) -> list[str]:
    return sorted(k for k in group if isinstance(group.get(k), h5py.Group)
                  and _text(group[k].attrs.get("NX_class")) == nx_class)


def _reference(h5) -> str | None:
    """The dataset the NeXus structure points to, written out plainly: the default plot's
    signal, else the first NXentry's NXinstrument/NXdetector/data."""
    entry = _text(h5.attrs.get("default"))
    entries = [entry] if entry else _classed(h5, "NXentry")
    for name in entries:
        grp = h5[name]
        plot = _text(grp.attrs.get("default"))
        if plot and plot in grp and _text(grp[plot].attrs.get("signal")) in grp[plot]:
            return f"/{name}/{plot}/{_text(grp[plot].attrs['signal'])}"
        for inst in _classed(grp, "NXinstrument"):
            for det in _classed(grp[inst], "NXdetector"):
                if "data" in grp[inst][det]:
                    return f"/{name}/{inst}/{det}/data"
    return None


def _hdf5_case(path: Path, corpus_row) -> None:
    with h5py.File(path, "r") as h5:
        ref_name = _reference(h5)
    try:
        refs = expand_inputs(str(path), path.parent)
    except FrameReadError as exc:
        reason = str(exc)
        assert str(path) in reason, reason
        if "holds 1D data" in reason:
            _one_d_case(path, ref_name, reason, corpus_row)
            return
        assert ("virtual dataset" in reason and "does not exist" in reason) or "cannot tell" in reason, reason
        corpus_row("frames", path, "refused", "h5py", reason.replace(str(path), path.name))
        return
    with open_hdf5(str(path)) as h5:
        reference = h5[ref_name][()]
    assert {r.dataset for r in refs} == {ref_name}
    reader = FrameReader()
    try:
        frames = [reader.read(r)[0] for r in refs]
    finally:
        reader.close()
    assert len(frames) == reference.shape[0]
    same = all(np.array_equal(f, reference[i]) and f.dtype == reference.dtype for i, f in enumerate(frames))
    outcome = "identical" if same else "differs"
    corpus_row("frames", path, outcome, "h5py", f"{len(frames)} frames {frames[0].shape} at {ref_name}")
    assert same


def _one_d_case(path: Path, ref_name: str, reason: str, corpus_row) -> None:
    """A file of 1D patterns: refused as frames, and read as patterns identical to h5py's rows."""
    patterns = read_nexus_patterns(str(path))
    with h5py.File(path, "r") as h5:
        rows = h5[ref_name][()]
        axis = h5[ref_name].parent[_text(h5[ref_name].parent.attrs["axes"])[-1]][()]
    assert len(patterns) == rows.shape[0]
    same = all(np.array_equal(p.intensity, rows[i]) and np.array_equal(p.x, axis) for i, p in enumerate(patterns))
    detail = (f"refused as frames (holds 1D data); {len(patterns)} patterns of {axis.size} points "
              f"({patterns[0].unit}) at {ref_name} read by read_nexus_patterns")
    corpus_row("frames", path, "identical" if same else "differs", "h5py", detail)
    assert same


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(FOLDER)) for p in FILES])
def test_corpus_frame_file(path, corpus_row):
    suffix = path.suffix.lower()
    if suffix in (".nxs", ".h5"):
        _hdf5_case(path, corpus_row)
    elif suffix == ".mask":
        import fabio

        reference = fabio.open(str(path)).data
        refs = expand_inputs(str(path), path.parent)
        reader = FrameReader()
        try:
            frame = reader.read(refs[0])[0]
        finally:
            reader.close()
        mask = load_image(str(path))
        same = len(refs) == 1 and np.array_equal(frame, reference) and np.array_equal(mask, reference)
        corpus_row("frames", path, "identical" if same else "differs", "fabio",
                   f"mask {mask.shape}, {int(np.count_nonzero(mask))} masked pixels")
        assert same
    elif suffix == ".poni":
        header = read_poni_header(str(path))
        with pytest.raises(FrameReadError) as err:
            FrameReader().read(expand_inputs(str(path), path.parent)[0])
        assert path.name in str(err.value)
        corpus_row("frames", path, "refused", "fabio",
                   f"a PONI geometry (version {header.version}), not frames: {err.value}")
    else:
        pytest.fail(f"no case for {path.name}")


def _lambda_parts(module: int) -> list[Path]:
    return sorted((FOLDER / "lambda").glob(f"*_m{module}_part*.nxs"))


def test_lambda_parts_of_a_module_are_consecutive_frames():
    refs = expand_inputs("lambda/testasapo1_1009_00002_m1_part*.nxs", FOLDER)
    assert len(refs) == 50
    assert [lambda_file(r.path).part for r in refs] == [p for p in range(5) for _ in range(10)]
    sequence = []
    for part in _lambda_parts(1):
        with h5py.File(part, "r") as h5:
            sequence += list(h5["/entry/instrument/detector/sequence_number"][()])
    assert sequence == list(range(1, 51))
    reader = FrameReader()
    try:
        frame = reader.read(refs[23])[0]
    finally:
        reader.close()
    with h5py.File(_lambda_parts(1)[2], "r") as h5:
        np.testing.assert_array_equal(frame, h5["/entry/instrument/detector/data"][3])


def test_lambda_modules_stitch_to_the_shape_of_the_dioptas_mask():
    layout = lambda_layout([_lambda_parts(m)[0] for m in (1, 2, 3)])
    assert layout.origins == {1: (0, 2), 2: (660, 0), 3: (1317, 0)}
    mask = load_image(str(next((FOLDER / "lambda").glob("*.mask"))))
    assert layout.shape == mask.shape == (1833, 1556)
    regions = [module_region(mask, layout, m) for m in (1, 2, 3)]
    assert all(r.shape == (516, 1554) for r in regions)
    # the masked pixels outside every module lie in the gaps between them
    assert sum(int(r.sum()) for r in regions) <= int(mask.sum())


def test_processed_lambda_file_is_refused_as_frames_with_its_reason():
    path = FOLDER / "lambda" / "testasapo1_1009_00002_proc.nxs"
    with pytest.raises(FrameReadError, match=r"_proc\.nxs' holds 1D data, not 2D frames.*50 curves.*binning.*"
                                             r"read_nexus_patterns"):
        expand_inputs(str(path), FOLDER)
    patterns = read_nexus_patterns(path)
    assert (len(patterns), patterns[0].n_points, patterns[0].unit) == (50, 4038, "2th_deg")
    with pytest.raises(Exception, match="in 2th_deg, not q_A\\^-1"):
        read_nexus_patterns(path, unit="q_A^-1")


def test_a_frame_file_holds_no_patterns():
    with pytest.raises(Exception, match="holds no 1D diffraction patterns"):
        read_nexus_patterns(_lambda_parts(2)[0])
