"""Fuzz the readers: every damaged copy of a good input file is read into valid data or refused
with the family's read error (FrameReadError, PatternReadError, CyclerReadError, XasReadError,
XpsReadError; ValueError for the PONI header, as read_poni_header documents), never another
exception, a crash or a hang.

The short version runs here: the first ``ci.CI_MUTANTS`` mutants of each seed family, from a fixed
seed, each in a worker process with a 10 s limit. The long version is ``tests/fuzz/run.py``.
Families from ../shared/data skip when it is absent. Cases found failing and not yet fixed are
listed in ``KNOWN``, marked xfail(strict=True): each one turns the suite red once it is fixed,
so that its entry is removed.
"""

from __future__ import annotations

import pytest
from ci import TIMEOUT_S, cases
from sandbox import PASSING, MutantRunner, Sandbox
from seeds import FAMILIES

#: mutant id -> what goes wrong (exception, where); fixed cases must be removed from here.
KNOWN: dict[str, str] = {
    "corpus-frames:lambda/testasapo1_1009_00002_m3_part00004.nxs:delete_block:0":
        "a damaged HDF5 file escapes as _NotYet (a ValueError), not FrameReadError (xpipe/io/frames/hdf5.py:179)",
    "corpus-frames:lambda/testasapo1_1009_00002_proc.nxs:truncate:0":
        "a damaged HDF5 file escapes as _NotYet (a ValueError), not FrameReadError (xpipe/io/frames/hdf5.py:179)",
    "corpus-frames:hdf5_dataset/ma4500_demoh5.h5:zeros:0":
        "a missing virtual-dataset source escapes as _NotYet (a ValueError), not FrameReadError (xpipe/io/frames/hdf5.py:199)",
    "corpus-frames:lambda/testasapo1_1009_00002_m2_part00004.nxs:delete_block:0":
        "a damaged HDF5 file escapes as _NotYet (a ValueError), not FrameReadError (xpipe/io/frames/hdf5.py:179)",
    "corpus-frames:hdf5_dataset/demoh5_dataset/demoh5_dataset.h5:truncate:0":
        "a damaged HDF5 file escapes as _NotYet (a ValueError), not FrameReadError (xpipe/io/frames/hdf5.py:179)",
    "corpus-frames:lambda/testasapo1_1009_00002_m3_part00004.nxs:wrong_type:0":
        "a damaged HDF5 dataset escapes as _NotYet (a ValueError), not FrameReadError (xpipe/io/frames/hdf5.py:242)",
    "corpus-frames:lambda/testasapo1_1009_00002_m1_part00004.nxs:truncate:0":
        "a damaged HDF5 file escapes as _NotYet (a ValueError), not FrameReadError (xpipe/io/frames/hdf5.py:179)",
    "corpus-frames:hdf5_dataset/demoh5_dataset/demoh5_dataset.h5:huge_number:0":
        "h5py's RuntimeError on a damaged HDF5 file escapes (xpipe/io/frames/hdf5.py:171)",
    "corpus-frames:lambda/testasapo1_1009_00002_m1_part00003.nxs:truncate:0":
        "a damaged HDF5 file escapes as _NotYet (a ValueError), not FrameReadError (xpipe/io/frames/hdf5.py:179)",
    "corpus-frames:lambda/testasapo1_1009_00002_m2_part00001.nxs:empty:0":
        "a damaged HDF5 file escapes as _NotYet (a ValueError), not FrameReadError (xpipe/io/frames/hdf5.py:179)",
    "corpus-frames:lambda/testasapo1_1009_00002_m1_part00003.nxs:wrong_type:0":
        "a damaged HDF5 dataset escapes as _NotYet (a ValueError), not FrameReadError (xpipe/io/frames/hdf5.py:242)",
    "corpus-frames:lambda/testasapo1_1009_00002_m1_part00003.nxs:empty:0":
        "a damaged HDF5 file escapes as _NotYet (a ValueError), not FrameReadError (xpipe/io/frames/hdf5.py:179)",
    "corpus-frames:lambda/testasapo1_1009_00002_m3_part00004.nxs:huge_number:0":
        "a damaged HDF5 dataset escapes as _NotYet (a ValueError), not FrameReadError (xpipe/io/frames/hdf5.py:242)",
    "corpus-frames:hdf5_dataset/demoh5_dataset/demoh5_dataset.h5:bitflip:0":
        "a missing virtual-dataset source escapes as _NotYet (a ValueError), not FrameReadError (xpipe/io/frames/hdf5.py:199)",
    "corpus-frames:lambda/testasapo1_1009_00002_m3_part00000.nxs:delete_block:0":
        "a damaged HDF5 file escapes as _NotYet (a ValueError), not FrameReadError (xpipe/io/frames/hdf5.py:179)",
    "corpus-frames:lambda/testasapo1_1009_00002_m3_part00001.nxs:huge_number:0":
        "a damaged HDF5 dataset escapes as _NotYet (a ValueError), not FrameReadError (xpipe/io/frames/hdf5.py:242)",
    "corpus-frames:hdf5_dataset/demoh5_dataset/ma4500-demoh5-dataset.h5:duplicate_block:0":
        "no frame dataset found escapes as _NotYet (a ValueError), not FrameReadError (xpipe/io/frames/hdf5.py:331)",
    "corpus-frames:lambda/testasapo1_1009_00002_m2_part00001.nxs:zeros:0":
        "h5py's RuntimeError on a damaged HDF5 file escapes (xpipe/io/frames/hdf5.py:171)",
    "corpus-frames:hdf5_dataset/ma4500_demoh5.h5:bitflip:0":
        "h5py's KeyError (bad metadata checksum) on a damaged HDF5 file escapes (xpipe/io/frames/hdf5.py:171)",
    "corpus-frames:hdf5_dataset/ma4500_demoh5.h5:duplicate_block:0":
        "h5py's KeyError (bad metadata checksum) on a damaged HDF5 file escapes (xpipe/io/frames/hdf5.py:171)",
    "shared-echem:navani/arbin_example.res:random_block:0":
        "ValueError (NaN to integer) escapes the Arbin reader (xpipe/echem/readers/arbin.py)",
    "shared-echem:navani/arbin_example.res:duplicate_block:0":
        "ValueError (empty string to float) escapes the Arbin reader (xpipe/echem/readers/arbin.py)",
}


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    with Sandbox(timeout_s=TIMEOUT_S) as box:
        yield MutantRunner(box, tmp_path_factory.mktemp("fuzz-readers"))


@pytest.mark.parametrize("mutant", cases([f for f in FAMILIES if f.name != "recipes"], KNOWN))
def test_mutant_is_read_or_refused(mutant, runner):
    outcome = runner.run(mutant)
    assert outcome.status in PASSING, f"{mutant.id}: {outcome.describe()}"
