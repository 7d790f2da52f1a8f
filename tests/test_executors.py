"""One executor interface: serial, local processes and Dask distributed give the same numbers.

The Dask cluster is a LocalCluster on the loopback interface only, started once for this module
and stopped at its end.
"""

from __future__ import annotations

import os
import pickle

import h5py
import numpy as np
import pytest
from conftest import ROOT, write_recipe

from xpipe.executor import (
    DaskExecutor,
    ExecutorError,
    ProcessExecutor,
    SerialExecutor,
    make_executor,
)
from xpipe.recipe.model import load_recipe
from xpipe.runner import run
from xpipe.store import CheckpointStore

RECIPE = """\
name: executor test
run:
  chunk_frames: 2
{run_extra}
xrd:
  frames:
    files: "frame_*.cbf"
  integrate:
    poni: geometry.poni
    npt: 500
    error_model: azimuthal
    cake: true
    cake_every: 3
"""


@pytest.fixture(scope="module")
def cluster():
    ex = DaskExecutor(local_workers=2)
    try:
        yield ex
    finally:
        ex.close()
    assert ex.client is None


class Powers:
    """A toy worker: what a stage's worker looks like to an executor."""

    def __init__(self, values):
        self.values = values

    def setup(self):
        self.table = np.asarray(self.values, float) ** 2

    def process(self, indices):
        return {"indices": list(indices), "squares": self.table[indices].tolist(), "pid": os.getpid()}


@pytest.mark.parametrize("kind", ["serial", "processes", "dask"])
def test_every_executor_hands_each_chunk_back_once(kind, cluster):
    chunks = [[i, i + 1, i + 2] for i in range(0, 30, 3)]
    seen = []
    ex = {"serial": SerialExecutor(), "processes": ProcessExecutor(2), "dask": cluster}[kind]
    ex.map(Powers(range(30)), chunks, lambda chunk, res: seen.append((chunk, res)))
    assert sorted(c[0] for c, _ in seen) == [c[0] for c in chunks]
    for chunk, res in seen:
        assert res["indices"] == chunk
        assert res["squares"] == [float(i * i) for i in chunk]
    pids = {res["pid"] for _, res in seen}
    assert (pids == {os.getpid()}) == (kind == "serial")


def _integrated(path):
    with h5py.File(path) as h5:
        g = h5["entry/xrd/integrated"]
        out = {k: g[k][()] for k in ("intensity", "sigma", "radial", "frame_time_s", "frame_index")}
        out["cake"] = h5["entry/xrd/cake/intensity"][()]
        out["runs"] = h5["entry/provenance/runs"][()].decode()
    return out


@pytest.fixture(scope="module")
def serial_reference(frame_set, tmp_path_factory):
    folder, _ = frame_set
    recipe = write_recipe(folder, RECIPE.format(run_extra=""), "executors.yaml")
    out = tmp_path_factory.mktemp("serial")
    report = run(load_recipe(recipe), out, workers=1, quiet=True, use_cache=False)
    assert report.exit_code == 0
    return recipe, _integrated(out / "results.h5")


def _same(a, b):
    for key in ("intensity", "sigma", "radial", "frame_time_s", "frame_index", "cake"):
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-12, err_msg=key)
        np.testing.assert_array_equal(np.isnan(a[key]), np.isnan(b[key]), err_msg=key)


def test_processes_and_dask_give_the_serial_numbers(serial_reference, cluster, tmp_path):
    recipe, reference = serial_reference
    loaded = load_recipe(recipe)
    report = run(loaded, tmp_path / "proc", workers=2, quiet=True, use_cache=False)
    assert report.exit_code == 0
    _same(_integrated(tmp_path / "proc" / "results.h5"), reference)

    report = run(loaded, tmp_path / "dask", executor=cluster, quiet=True, use_cache=False)
    assert report.exit_code == 0
    got = _integrated(tmp_path / "dask" / "results.h5")
    _same(got, reference)
    assert "dask (local cluster tcp://127.0.0.1:" in got["runs"]
    # the frames were read and integrated in the Dask worker processes, not here
    ck = CheckpointStore(tmp_path / "dask" / ".xpipe" / "xrd.integrate")
    pids = {info["extra"]["pid"] for info, _ in ck.iter_chunks()}
    assert os.getpid() not in pids and len(pids) >= 1
    assert cluster.client is not None  # a caller's executor is left open


def test_what_travels_to_the_workers_is_settings_and_paths_not_images(serial_reference):
    recipe, _ = serial_reference
    from xpipe.runner import build_stages

    worker = build_stages(load_recipe(recipe))[0].worker()
    worker.setup()  # even after setup (integrator built), only the configuration is pickled
    assert len(pickle.dumps(worker)) < 20_000


def test_recipe_scheduler_key_connects_to_a_running_scheduler(serial_reference, cluster, tmp_path):
    recipe, reference = serial_reference
    address = cluster.client.scheduler.address
    assert address.startswith("tcp://127.0.0.1:")
    text = RECIPE.format(run_extra=f"  scheduler: {address}")
    path = write_recipe(recipe.parent, text, "executors_dask.yaml")
    report = run(load_recipe(path), tmp_path / "out", quiet=True, use_cache=False)
    assert report.exit_code == 0
    got = _integrated(tmp_path / "out" / "results.h5")
    _same(got, reference)
    assert f"dask ({address})" in got["runs"]


def test_xas_series_on_dask_equals_serial(cluster, tmp_path):
    loaded = load_recipe(ROOT / "recipes" / "nvp_xanes.yaml")
    a = run(loaded, tmp_path / "serial", workers=1, quiet=True, use_cache=False)
    b = run(loaded, tmp_path / "dask", executor=cluster, quiet=True, use_cache=False)
    assert a.exit_code == b.exit_code == 0
    with h5py.File(tmp_path / "serial" / "results.h5") as ha, h5py.File(tmp_path / "dask" / "results.h5") as hb:
        ga, gb = ha["entry/xas/V_K/spectra"], hb["entry/xas/V_K/spectra"]
        names = [k for k in ga if isinstance(ga[k], h5py.Dataset) and ga[k].dtype.kind == "f"]
        assert {"valence", "edge_energy_ev", "e0_ev"} <= set(names)
        for k in names:
            np.testing.assert_allclose(ga[k][()], gb[k][()], rtol=0, atol=1e-12, err_msg=k)


def test_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(ExecutorError, match=r"cannot connect to the scheduler at tcp://127\.0\.0\.1:9"):
        DaskExecutor(address="tcp://127.0.0.1:9", timeout_s=1.5)


def test_make_executor_choices():
    assert isinstance(make_executor("serial", 4), SerialExecutor)
    assert isinstance(make_executor("processes", 1), SerialExecutor)
    ex = make_executor("processes", 3)
    assert isinstance(ex, ProcessExecutor) and ex.workers == 3


def test_recipe_rejects_a_malformed_scheduler_address(tmp_path, frame_set):
    from xpipe.recipe.schema import RecipeInvalid

    folder, _ = frame_set
    path = write_recipe(folder, RECIPE.format(run_extra="  scheduler: myhost:8786"), "bad_sched.yaml")
    with pytest.raises(RecipeInvalid) as err:
        load_recipe(path)
    assert "run.scheduler" in err.value.report() and "tcp://host:8786" in err.value.report()


def test_scheduler_file_as_written_by_dask_scheduler(cluster, tmp_path):
    path = tmp_path / "scheduler.json"
    cluster.client.write_scheduler_file(str(path))
    with make_executor(scheduler=str(path)) as ex:
        assert isinstance(ex, DaskExecutor) and ex.workers == 2
        got = []
        ex.map(Powers(range(4)), [[0, 1], [2, 3]], lambda c, r: got.extend(r["squares"]))
        assert sorted(got) == [0.0, 1.0, 4.0, 9.0]
    assert cluster.client.status == "running"  # closing a client of a running cluster leaves it up


class OpenMPThreads:
    """Reports the OpenMP threads its tasks would run with (pyFAI's engines use OpenMP)."""

    def setup(self):
        from pyFAI.ext import splitBBoxCSR  # noqa: F401  (loads the OpenMP runtime)

    def process(self, indices):
        from threadpoolctl import threadpool_info

        return {"openmp": [i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"]}


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 or more CPUs to tell the thread counts apart")
def test_local_dask_workers_share_the_cores_out_like_the_process_pool():
    """Dask starts its workers with OMP_NUM_THREADS=1; on a cluster of its own, xpipe gives
    each of its N workers cores/N OpenMP threads, as the local process pool does."""
    got = []
    with DaskExecutor(local_workers=1) as ex:
        assert ex.omp_threads == os.cpu_count()
        ex.map(OpenMPThreads(), [[0], [1], [2]], lambda chunk, result: got.append(result))
    assert len(got) == 3
    assert all(r["openmp"] and set(r["openmp"]) == {os.cpu_count()} for r in got)


def test_cli_dask_local_gives_the_serial_numbers_and_a_quiet_log(serial_reference, tmp_path):
    """``xpipe run --dask-local 1`` as a user types it: Dask's own start and stop lines stay
    out of the log (its warnings would still show), the numbers are the serial ones."""
    import subprocess
    import sys

    recipe, reference = serial_reference
    res = subprocess.run([sys.executable, "-m", "xpipe", "run", str(recipe), "-o", str(tmp_path / "cli"),
                          "--dask-local", "1", "--no-cache"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "wrote" in res.stderr
    for chatter in ("Scheduler at", "Nanny", "Register worker", "Lost all workers"):
        assert chatter not in res.stderr, res.stderr
    got = _integrated(tmp_path / "cli" / "results.h5")
    _same(got, reference)
    assert "dask (local cluster tcp://127.0.0.1:" in got["runs"]
