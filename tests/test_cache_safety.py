"""The stage cache and the checkpoints hold data only: a file planted or changed in an output
folder is never executed, and is ignored (with a warning naming it) instead of trusted."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pickle
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import xpipe
from xpipe import cache
from xpipe.store import CheckpointStore

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"


def _runs(outdir: Path) -> dict[str, bool]:
    """The stages the last run into ``outdir`` took from the cache (True) or ran (False or absent)."""
    return {r["stage"]: bool(r.get("cached")) for r in json.loads((outdir / ".xpipe" / "runs.json").read_text())}


#: when the run and its stages wrote their results (/entry/start_time, end_time, process_*/date)
_WHEN = ("start_time", "end_time", "date")


def _datasets(path: Path) -> dict:
    out = {}
    with h5py.File(path, "r") as h5:
        h5["entry"].visititems(lambda name, obj: out.__setitem__(name, obj[()])
                               if isinstance(obj, h5py.Dataset) and not name.startswith("provenance")
                               and name.rsplit("/", 1)[-1] not in _WHEN else None)
    return out


def _assert_same_results(a: Path, b: Path, rtol: float = 0.0) -> None:
    """The same results (provenance aside): exactly, or within ``rtol`` for a stage fitted again
    (the XPS fit uncertainties of a refit in a busy process can differ in their sixth digit)."""
    da, db = _datasets(a), _datasets(b)
    assert da.keys() == db.keys()
    for name, value in da.items():
        if np.asarray(value).dtype.kind in "fc":  # arrays and scalars: NaN equals NaN
            np.testing.assert_allclose(value, db[name], rtol=rtol, atol=0, equal_nan=True, err_msg=name)
        else:
            assert np.array_equal(np.asarray(value), np.asarray(db[name])), name


def assert_same(a, b, where: str = "state") -> None:
    """Deep equality of a state and its copy: types, fields, arrays (dtype, shape, values)."""
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            assert_same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, np.ndarray):
        assert (a.dtype, a.shape) == (b.dtype, b.shape), where
        if a.dtype == object:
            assert a.tolist() == b.tolist(), where
        else:
            np.testing.assert_array_equal(a, b, err_msg=where)
    elif type(a).__name__ == "Parameters":  # lmfit's: the fitted values, not the live interpreter
        assert list(a) == list(b), where
        for name in a:
            for attr in ("value", "stderr", "min", "max", "vary", "expr", "init_value", "correl", "user_data"):
                assert_same(getattr(a[name], attr), getattr(b[name], attr), f"{where}[{name!r}].{attr}")
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and a != a:
        assert b != b, where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """The whole example chain run once, with the state each cached stage kept."""
    states = {}
    store = cache.store

    def keep(work, stage, entry, before, digest, summary):
        states[stage.name] = stage.cache_state()
        return store(work, stage, entry, before, digest, summary)

    out = tmp_path_factory.mktemp("full") / "out"
    mp = pytest.MonkeyPatch()
    mp.setattr(cache, "store", keep)
    try:
        xpipe.run(RECIPES / "nvp_full.yaml", out, workers=1)
    finally:
        mp.undo()
    return out, states


def test_the_real_xps_and_phase_states_round_trip_through_the_codec(full_run):
    from xpipe import codec

    out, states = full_run
    assert {"xps", "xrd_phases"} <= set(states)
    assert states["xrd_phases"]["analysis"] is not None and states["xps"][0].fits[0] is not None
    for name in ("xps", "xrd_phases"):
        assert_same(states[name], codec.loads(codec.dumps(states[name])), name)
        # and the cache on disk holds exactly that state, as data
        folder = out / ".xpipe" / name
        assert not (folder / "cache.pkl").exists()
        kept = codec.loads((folder / "cache_state.npz").read_bytes())
        assert_same(states[name], kept["state"], name)


def test_the_cache_replays_after_a_figure_change(full_run, tmp_path):
    out, _ = full_run
    again = shutil.copytree(out, tmp_path / "again", symlinks=True)
    loaded = xpipe.load_recipe(RECIPES / "nvp_full.yaml")
    loaded.recipe.figures.contour.colormap = "magma"  # a figure setting only
    xpipe.run(loaded, again, workers=1)
    assert _runs(again)["xps"] and _runs(again)["xrd_phases"]
    for name in ("xps", "xrd_phases"):  # replayed from data, with its checksums
        assert sorted(p.name for p in (again / ".xpipe" / name).iterdir()) == [
            "cache.h5", "cache.json", "cache_state.npz"]
    _assert_same_results(out / "results.h5", again / "results.h5")


def test_the_codec_rebuilds_only_dataclasses_of_xpipe():
    from xpipe import codec

    @dataclasses.dataclass
    class Foreign:
        x: int

    with pytest.raises(codec.CodecError):
        codec.dumps(Foreign(1))  # a class it could not rebuild is not written either
    loaded = set(__import__("sys").modules)
    for name in ("os:system", "subprocess:Popen", "collections:OrderedDict", "builtins:eval",
                 "xpipe_extra.plugin:Thing", "xpipe.store:CheckpointStore", "xpipe.store:os.system",
                 "xpipe.nothere:Thing", "xpipe.stages.base:StageSummary.__init__", "xpipe.__main__:Main"):
        tree = {"$": "dataclass", "cls": name, "f": {"folder": "/tmp"}}
        with pytest.raises(codec.CodecError):
            codec.decode(tree, {})
    assert set(__import__("sys").modules) == loaded  # nothing named by the file was imported
    # an xpipe dataclass is made without its constructor, with exactly its fields
    from xpipe.stages.base import StageSummary

    fields = {"done": 1, "failed": {"$": "list", "v": []}, "inputs": {"$": "list", "v": []}, "engine_builds": 0}
    summary = codec.decode({"$": "dataclass", "cls": "xpipe.stages.base:StageSummary", "f": fields}, {})
    assert summary == StageSummary(done=1, failed=[], inputs=[])
    with pytest.raises(codec.CodecError):
        codec.decode({"$": "dataclass", "cls": "xpipe.stages.base:StageSummary",
                      "f": {**fields, "extra": 1}}, {})


class _Payload:
    """Unpickling this creates a folder: the proof that a pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


@pytest.fixture(scope="module")
def xps_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("xps") / "out"
    xpipe.run(RECIPES / "nvp_xps.yaml", out, workers=1)
    return out


def _copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, symlinks=True)
    return dest


def test_a_planted_pickle_is_never_executed_and_the_stage_runs(xps_run, tmp_path, caplog):
    out = _copy(xps_run, tmp_path / "out")
    folder = out / ".xpipe" / "xps"
    for name in ("cache.json", "cache_state.npz"):  # only what the planter leaves
        (folder / name).unlink(missing_ok=True)
    loaded = xpipe.load_recipe(RECIPES / "nvp_xps.yaml")
    from xpipe import runner

    digest = runner.stage_hashes(runner.build_stages(loaded), out / ".xpipe")["xps"]
    with h5py.File(folder / "cache.h5", "a") as h5:  # a cache that looks complete for this hash
        h5.attrs["stage_hash"] = digest
        h5.attrs["complete"] = True
    marker = tmp_path / "payload_ran"
    (folder / "cache.pkl").write_bytes(pickle.dumps(_Payload(marker)))
    with caplog.at_level(logging.WARNING, logger="xpipe"):
        xpipe.run(loaded, out, workers=1)
    assert not marker.exists(), "the planted pickle was executed"
    assert not _runs(out).get("xps"), "the stage was not run again"
    assert "cache.pkl" in caplog.text
    _assert_same_results(xps_run / "results.h5", out / "results.h5", rtol=1e-4)


def _tamper_h5(folder: Path) -> str:
    with h5py.File(folder / "cache.h5", "a") as h5:
        name = []
        h5.visititems(lambda n, o: name.append(n) if isinstance(o, h5py.Dataset) and o.dtype.kind == "f" else None)
        ds = h5[name[0]]
        ds[...] = ds[()] + 1.0
    return "cache.h5"


def _cut_state(folder: Path) -> str:
    path = folder / "cache_state.npz"
    path.write_bytes(path.read_bytes()[:-100])
    return "cache_state.npz"


def _other_version(folder: Path) -> str:
    path = folder / "cache.json"
    envelope = json.loads(path.read_text())
    envelope["xpipe"] = "0.0.1"
    path.write_text(json.dumps(envelope))
    return "cache.json"


@pytest.mark.parametrize("tamper", [_tamper_h5, _cut_state, _other_version])
def test_a_changed_cache_is_ignored_with_a_warning(xps_run, tmp_path, caplog, tamper):
    out = _copy(xps_run, tmp_path / "out")
    name = tamper(out / ".xpipe" / "xps")
    with caplog.at_level(logging.WARNING, logger="xpipe"):
        xpipe.run(RECIPES / "nvp_xps.yaml", out, workers=1)
    assert str(out / ".xpipe" / "xps" / name) in caplog.text
    assert not _runs(out).get("xps"), "the stage was not run again"
    _assert_same_results(xps_run / "results.h5", out / "results.h5", rtol=1e-4)
    caplog.clear()
    xpipe.run(RECIPES / "nvp_xps.yaml", out, workers=1)  # the cache written anew is used
    assert _runs(out)["xps"] and "xps" not in caplog.text


def _two_chunks(folder: Path) -> CheckpointStore:
    ck = CheckpointStore(folder)
    ck.reset({"stage": "demo"})
    keys = ["a", "b", "c", "d"]
    ck.save(0, keys, {"arrays": {"y": np.array([1.0, 2.0])}, "meta": [{"index": 0}, {"index": 1}]})
    ck.save(1, keys, {"arrays": {"y": np.array([3.0, 4.0])}, "meta": [{"index": 2}, {"index": 3}]})
    return ck


@pytest.mark.parametrize("how", ["changed", "cut", "swapped"])
def test_a_changed_checkpoint_is_ignored_with_a_warning(tmp_path, caplog, how):
    ck = _two_chunks(tmp_path / "out" / ".xpipe" / "demo")
    first = ck.folder / "chunk_000000.npz"
    if how == "changed":  # a valid chunk, other numbers
        with np.load(first) as npz:
            arrays = dict(npz)
        arrays["y"] = arrays["y"] * 10
        with open(first, "wb") as fh:
            np.savez(fh, **arrays)
    elif how == "cut":
        first.write_bytes(first.read_bytes()[:200])
    else:
        shutil.copy(ck.folder / "chunk_000001.npz", first)
    with caplog.at_level(logging.WARNING, logger="xpipe"):
        assert ck.done_keys() == {"c", "d"}
        assert [a["y"].tolist() for _, a in ck.iter_chunks()] == [[3.0, 4.0]]
    assert str(first) in caplog.text
