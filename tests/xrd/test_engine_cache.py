"""The folded integration engine kept on disk: a run that reads it gives the same numbers, bit for
bit, as one that builds it; a damaged or tampered file is ignored with a warning naming it; the
cache can be turned off and an unwritable folder only costs a warning."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil

import h5py
import numpy as np
import pytest

import xpipe
from xpipe.stages import xrd_integrate
from xpipe.xrd import engine_cache

RECIPE = """name: engine cache
xrd:
  frames:
    files: frame_*.cbf
  integrate:
    poni: geometry.poni
    npt: 400
    unit: 2th_deg
    method: bbox/csr/cython
    polarization_factor: 0.99
    error_model: poisson
  figures:
    contour: false
"""


@pytest.fixture
def recipe(frame_set, tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(frame_set[0], folder)
    path = folder / "recipe.yaml"
    path.write_text(RECIPE)
    return path


def _run(recipe, out, cache, monkeypatch):
    monkeypatch.setenv(engine_cache.ENV, str(cache))
    xpipe.run(recipe, out, workers=1)
    with h5py.File(out / "results.h5") as h5:
        g = h5["entry/xrd/integrated"]
        integ = h5["entry/xrd/integration"]
        geometry = {k: integ["geometry"][k][()] for k in integ["geometry"]}
        return (g["intensity"][()], g["sigma"][()], g["radial"][()], int(integ["engine_builds"][()]),
                integ["engine_cache_file"][()].decode(), geometry)


def _no_pyfai(cfg):
    raise AssertionError("pyFAI's integrator was built although the engine was cached")


def _forget_built_integrators(monkeypatch):
    """A new process: nothing built before (the in-process integrator cache emptied)."""
    monkeypatch.setattr(xrd_integrate, "_INTEGRATORS", type(xrd_integrate._INTEGRATORS)())


def test_a_run_through_the_cached_engine_gives_the_built_engine_s_numbers(recipe, tmp_path, monkeypatch):
    cache = tmp_path / "engines"
    _forget_built_integrators(monkeypatch)
    built = _run(recipe, tmp_path / "built", cache, monkeypatch)
    assert built[3] == 1 and built[4] == ""
    assert len(list(cache.glob("*.bin"))) == 1 and len(list(cache.glob("*.json"))) == 1
    _forget_built_integrators(monkeypatch)
    with monkeypatch.context() as m:  # read back from disk, no pyFAI integrator is built
        m.setattr(xrd_integrate, "build_ai", _no_pyfai)
        read = _run(recipe, tmp_path / "read", cache, monkeypatch)
    assert read[3] == 0 and read[4].endswith(".bin")
    for a, b in zip(built[:3], read[:3]):
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    assert built[5].keys() == read[5].keys()
    assert all(np.array_equal(built[5][k], read[5][k]) for k in built[5])
    _forget_built_integrators(monkeypatch)
    off = _run(recipe, tmp_path / "off", "off", monkeypatch)
    assert off[3] == 1 and all(np.array_equal(a, b, equal_nan=True) for a, b in zip(built[:3], off[:3]))


def _keep_one(recipe, tmp_path, monkeypatch):
    cache = tmp_path / "engines"
    _forget_built_integrators(monkeypatch)
    reference = _run(recipe, tmp_path / "first", cache, monkeypatch)
    [npz] = cache.glob("*.bin")
    return cache, npz, reference


def test_a_damaged_engine_file_is_ignored_with_a_warning_naming_it(recipe, tmp_path, monkeypatch, caplog):
    cache, npz, reference = _keep_one(recipe, tmp_path, monkeypatch)
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF
    npz.write_bytes(bytes(data))
    _forget_built_integrators(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="xpipe"):
        again = _run(recipe, tmp_path / "again", cache, monkeypatch)
    assert str(npz) in caplog.text and "sha256" in caplog.text
    assert again[3] == 1  # built again, and kept again
    assert np.array_equal(again[0], reference[0]) and np.array_equal(again[1], reference[1])
    assert engine_cache.load_engine(cache, npz.stem) is not None


def test_a_tampered_matrix_with_a_matching_digest_is_refused(recipe, tmp_path, monkeypatch, caplog):
    """The digest only proves the file is the one written; the arrays are still checked before
    scipy's compiled kernels index memory with them."""
    cache, npz, reference = _keep_one(recipe, tmp_path, monkeypatch)
    record_path = npz.with_suffix(".json")
    record = json.loads(record_path.read_text())
    [entry] = [a for a in record["arrays"] if a["name"] == "m_indices"]
    data = bytearray(npz.read_bytes())
    indices = np.frombuffer(data, entry["dtype"], entry["size"], entry["offset"])
    indices[5] = 10**6  # a row far outside the matrix
    npz.write_bytes(bytes(data))
    record.update(bin_sha256=hashlib.sha256(data).hexdigest())
    record_path.write_text(json.dumps(record))
    _forget_built_integrators(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="xpipe"):
        again = _run(recipe, tmp_path / "again", cache, monkeypatch)
    assert "folded matrix is not valid" in caplog.text and str(npz) in caplog.text
    assert again[3] == 1 and np.array_equal(again[0], reference[0])


def test_an_unwritable_cache_folder_costs_a_warning_not_the_run(recipe, tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the cache folder would be")
    _forget_built_integrators(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="xpipe"):
        out = _run(recipe, tmp_path / "out", blocker / "engines", monkeypatch)
    assert "cannot keep the integration engine" in caplog.text and str(blocker) in caplog.text
    assert out[3] == 1 and out[0].shape[0] == 8


def test_the_cache_keeps_the_most_recently_used_engines(tmp_path, monkeypatch):
    from xpipe.xrd.blockcsr import BlockIntegrator

    monkeypatch.setattr(engine_cache, "MAX_ENGINES", 2)
    lut = (np.array([1.0, 0.5, 0.5], np.float32), np.array([0, 1, 2]), np.array([0, 1, 3]))
    block = BlockIntegrator(lut, (1, 3), omega=np.ones(3, np.float32))
    keys = [engine_cache.engine_key(str(i)) for i in range(3)]
    for i, key in enumerate(keys):
        engine_cache.save_engine(tmp_path, key, block, np.zeros(2), "m", {})
        if i == 1:
            import os
            import time

            old = time.time() - 100
            os.utime(tmp_path / f"{keys[0]}.json", (old, old))
            os.utime(tmp_path / f"{keys[1]}.json", (old + 1, old + 1))
            assert engine_cache.load_engine(tmp_path, keys[0]) is not None  # used: now the newest
    kept = {p.stem for p in tmp_path.glob("*.bin")}
    assert kept == {keys[0], keys[2]}
    assert {p.stem for p in tmp_path.glob("*.json")} == kept
