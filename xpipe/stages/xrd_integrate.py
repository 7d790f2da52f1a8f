"""The ``xrd`` recipe section and the stage that integrates 2D frames into a pattern stack.

Recipe keys map one-to-one onto the dataclasses below; ``docs/recipes.md`` is generated from
them. The stage hands frames to :class:`IntegrateWorker` (one per process, integrator built once)
and turns the finished chunks into ``/entry/xrd`` of the results file. A worker set up again in
the same process with the same settings and the same geometry, mask, dark and flat files reuses
the integrator built the first time (engines included), e.g. in live mode or on a Dask worker
that receives the worker again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..io.files import relative_path, sha256_file
from ..io.frames import (
    FrameReader,
    FrameReadError,
    FrameRef,
)
from ..io.geometry import geometry_record, load_image
from ..io.prefetch import prefetched
from ..recipe.sections.xrd import XrdConfig
from ..recipe.sections.xrd_frames import IntegrateConfig, build_ai
from ..xrd import engine_cache
from ..xrd import opencl as _ocl
from ..xrd.integrate import (
    FrameError,
    FrameIntegrator,
)
from .base import Stage, StageSummary
from .xrd_products import stack_outputs
from .xrd_results import write_xrd

# ----------------------------------------------------------------------------- helpers


log = logging.getLogger("xpipe")




# ----------------------------------------------------------------------------- worker


_INTEGRATORS: OrderedDict[str, FrameIntegrator] = OrderedDict()
_INTEGRATORS_MAX = 2  # each holds its engines (about 160 MB for a Pilatus 1M CSR engine)
_INTEGRATORS_LOCK = threading.Lock()


def integrator_key(cfg: IntegrateConfig) -> str:
    """What an integrator depends on: every integration setting and the contents of the
    geometry, mask, dark and flat files (not only their names).

    Parameters
    ----------
    cfg : xpipe.recipe.sections.xrd_frames.IntegrateConfig
        The recipe's ``xrd.integrate`` section.

    Returns
    -------
    str
        A hex sha256: an integrator built in this process for an equal key is reused.

    Examples
    --------
    >>> import dataclasses
    >>> import pathlib, xpipe
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> loaded = xpipe.load_recipe(root / "recipes" / "nvp_operando.yaml")
    >>> cfg = loaded.recipe.xrd.integrate
    >>> key = integrator_key(cfg)
    >>> other = dataclasses.replace(cfg, npt=999)
    >>> len(key), key == integrator_key(cfg), key == integrator_key(other)
    (64, True, False)
    """
    h = hashlib.sha256(json.dumps(dataclasses.asdict(cfg), sort_keys=True, default=str).encode())
    for key in ("poni", "mask", "dark", "flat"):
        path = getattr(cfg, key)
        h.update(f"|{key}:{sha256_file(path) if path else ''}".encode())
    return h.hexdigest()


def _cached_integrator(key: str) -> FrameIntegrator | None:
    """The integrator built in this process (or the one it was forked from) for ``key``."""
    with _INTEGRATORS_LOCK:
        fi = _INTEGRATORS.get(key)
        if fi is not None:
            _INTEGRATORS.move_to_end(key)
        return fi


def _keep_integrator(key: str, fi: FrameIntegrator) -> None:
    with _INTEGRATORS_LOCK:
        _INTEGRATORS[key] = fi
        _INTEGRATORS.move_to_end(key)
        while len(_INTEGRATORS) > _INTEGRATORS_MAX:
            _INTEGRATORS.popitem(last=False)


def _integrator(cfg: IntegrateConfig, key: str) -> FrameIntegrator:
    """A new integrator for ``cfg``: through the folded engine kept on disk for this geometry
    (:mod:`xpipe.xrd.engine_cache`; pyFAI is then not even imported), or built with pyFAI, its
    folded engine kept for the next run."""
    settings = cfg.settings()
    mask = load_image(cfg.mask) if cfg.mask else None
    dark = load_image(cfg.dark) if cfg.dark else None
    flat = load_image(cfg.flat) if cfg.flat else None
    folder = engine_cache.cache_dir() if FrameIntegrator.folds(settings) else None
    disk_key = engine_cache.engine_key(key) if folder is not None else ""
    found = engine_cache.load_engine(folder, disk_key) if folder is not None else None
    fi = FrameIntegrator(
        (lambda: build_ai(cfg)) if found else build_ai(cfg), settings, mask=mask, dark=dark, flat=flat,
        use_detector_mask=cfg.use_detector_mask, engine=found,
    )
    if found is not None:
        log.debug("integration engine read from %s", found.path)
    elif fi.uses_opencl:
        fi.build_engines()  # an OpenCL device that cannot take the engine fails (or falls back) here
    elif folder is not None and fi.block_engine() is not None:
        engine_cache.save_engine(folder, disk_key, fi.block_engine(), fi.block_radial, fi.method_used,
                                 geometry_record(fi.ai))
    return fi


def integration_geometry(cfg: IntegrateConfig) -> dict:
    """:func:`xpipe.io.geometry.geometry_record` of the recipe's integrator: the one kept with
    its folded engine when the cache holds it (no pyFAI import), else from pyFAI.

    Parameters
    ----------
    cfg : IntegrateConfig
        The recipe's ``xrd.integrate`` section.

    Returns
    -------
    dict
        Detector, shape, pixel sizes, distance, PONI, rotations, wavelength, orientation.

    Examples
    --------
    >>> import pathlib, xpipe
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> cfg = xpipe.load_recipe(root / "recipes" / "nvp_operando.yaml").recipe.xrd.integrate
    >>> g = integration_geometry(cfg)
    >>> g["detector"], round(g["wavelength_a"], 4)
    ('Pilatus 300k', 0.7749)
    """
    if FrameIntegrator.folds(cfg.settings()):
        record = engine_cache.load_record(engine_cache.cache_dir(), engine_cache.engine_key(integrator_key(cfg)))
        if record is not None and isinstance(record.get("geometry"), dict):
            return record["geometry"]
    return geometry_record(build_ai(cfg))


class IntegrateWorker:
    """Reads and integrates chunks of frames; built once per process (picklable before setup).

    ``fork_safe`` is False when the worker integrates on an OpenCL device: a process forked
    after OpenCL was loaded cannot use it (and a forked process cannot build a new pyFAI
    geometry either once the parent has run OpenMP code), so such a worker must be set up in
    each process it runs in, started with 'spawn', or run in this process alone. A forked copy
    of a worker set up here finds no usable OpenCL device: with ``opencl_fallback`` it goes on
    with the cython engine built here beside the OpenCL one, else each frame fails saying why.

    Parameters
    ----------
    cfg : xpipe.recipe.sections.xrd_frames.IntegrateConfig
        The recipe's ``xrd.integrate`` section.
    refs : list of FrameRef
        Every frame of the run; :meth:`process` takes indices into it.
    prefetch : int
        Frames read ahead in a thread while one is integrated.
    digests : dict of str to str, optional
        sha256 of frame files already known (the runner's, for the stage cache): not computed
        again for the provenance record.

    Examples
    --------
    >>> import pathlib, xpipe
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> loaded = xpipe.load_recipe(root / "recipes" / "nvp_operando.yaml")
    >>> xrd = loaded.recipe.xrd
    >>> worker = IntegrateWorker(xrd.integrate, xrd.frames.refs)
    >>> worker.fork_safe  # a cython engine: build it once, then fork
    True
    >>> worker.setup()  # the integrator: built here, or the one this process built before
    >>> out = worker.process([0, 1])
    >>> out["arrays"]["intensity"].shape, out["failures"], out["meta"][1]["header_time"]
    ((2, 2000), [], '2025-03-14T09:10:00')
    """

    def __init__(self, cfg: IntegrateConfig, refs: list[FrameRef], prefetch: int = 2,
                 digests: dict[str, str] | None = None) -> None:
        self.cfg = cfg
        self.refs = refs
        self.prefetch = prefetch
        self.digests = dict(digests or {})
        self.integrator: FrameIntegrator | None = None

    @property
    def wants_opencl(self) -> bool:
        return self.cfg.method.split("/")[-1] == "opencl"

    @property
    def fork_safe(self) -> bool:
        """Whether this worker may be set up (engine built) in a process that then forks."""
        if not self.wants_opencl:
            return True
        if self.integrator is not None:
            return not self.integrator.uses_opencl
        split, algo = self.cfg.method.split("/")[:2]
        try:
            return _ocl.select_opencl(1, split, algo, self.cfg.opencl_device)[0] is None
        except ValueError:
            return True

    def setup(self) -> None:
        cfg = self.cfg
        key = integrator_key(cfg)
        fi = _cached_integrator(key)
        if fi is None:
            fi = _integrator(cfg, key)
            _keep_integrator(key, fi)
        elif fi.fallback_message:
            log.warning("%s", fi.fallback_message)
        self.integrator = fi
        self.reader = FrameReader()
        self._readers = threading.local()  # one reader (open HDF5 files) per loading thread
        # sha256 of the frames: those the runner computed for the stage cache, else read here
        self._checksums: dict[str, str] = {p: d for p, d in self.digests.items() if d != "missing"}

    def warm_up(self) -> None:
        """Build the integration engine(s) now, on a blank frame, so that processes forked
        afterwards share them. Not for a worker that is not ``fork_safe`` (OpenCL): its
        engine is built in each process it runs in."""
        if self.fork_safe:
            self.integrator.build_engines()

    def __getstate__(self) -> dict:
        """Only the configuration travels to spawned processes; each sets itself up there."""
        return {"cfg": self.cfg, "refs": self.refs, "prefetch": self.prefetch, "digests": self.digests,
                "integrator": None}

    def _load(self, index: int):
        ref = self.refs[index]
        try:
            reader = self.reader
            if threading.current_thread().name.startswith("xpipe-prefetch_"):  # a pooled loader
                reader = getattr(self._readers, "reader", None) or FrameReader()
                self._readers.reader = reader
            data, ftime = reader.read(ref)
            if ref.path not in self._checksums:
                self._checksums[ref.path] = sha256_file(ref.path)
            return data, ftime, None
        except (FrameReadError, OSError) as exc:
            return None, None, str(exc)
        except Exception as exc:  # any decoder failure is this frame's failure, not the run's
            return None, None, f"cannot read {ref.key}: {type(exc).__name__}: {exc}"

    def process(self, indices: list[int]) -> dict:
        """Integrate frames ``indices``; returns arrays for successes and reasons for failures.

        Frames are read ahead in a thread and integrated a block at a time (8 frames of a
        Pilatus 1M, :func:`xpipe.xrd.blockcsr.block_frames`), so the
        CSR matrix is read once per block (:meth:`FrameIntegrator.integrate_many`)."""
        fi = self.integrator
        rows, intens, sigmas, cakes, meta, failures = [], [], [], [], [], []
        pending: list[tuple[int, np.ndarray, object]] = []

        def flush() -> None:
            try:
                patterns = fi.integrate_many([p[1] for p in pending])
            except Exception as exc:  # pyFAI errors on a damaged frame must not stop the run
                patterns = [exc] * len(pending)
            for (index, data, ftime), pattern in zip(pending, patterns):
                self._integrated(index, data, ftime, pattern, rows, intens, sigmas, cakes, meta, failures)
            pending.clear()

        # a GPU integrates faster than one thread decodes: several decode there (file reads,
        # checksums and part of the decoding release the GIL)
        loaders = min(4, os.cpu_count() or 1) if fi.uses_opencl else 1
        for index, (data, ftime, err) in prefetched(self._load, indices, max(self.prefetch, 2 * loaders),
                                                    threads=loaders):
            if err is not None:
                failures.append((index, err))
                continue
            pending.append((index, data, ftime))
            if len(pending) >= fi.block_frames:
                flush()
        if pending:
            flush()
        position = {index: n for n, index in enumerate(indices)}
        failures.sort(key=lambda f: position[f[0]])  # read failures come before a block's
        arrays = {}
        if rows:
            arrays = {
                "index": np.asarray(rows, dtype=np.int64),
                "intensity": np.stack(intens),
                "sigma": np.stack(sigmas),
                "radial": self._radial,
            }
        if cakes:
            arrays["cake_intensity"] = np.stack([c[1].intensity for c in cakes])
            arrays["cake_azimuthal_deg"] = cakes[0][1].azimuthal_deg
        return {
            "arrays": arrays,
            "meta": meta,
            "failures": failures,
            "engine_builds": fi.engine_builds_by_process(),
            "method_used": fi.method_used,
            "engine_file": str(fi.engine_file) if fi.engine_file else None,
            "cake_keys": [self.refs[c[0]].key for c in cakes],  # rows of cake_intensity
            "pid": os.getpid(),
        }

    def _integrated(self, index, data, ftime, pattern, rows, intens, sigmas, cakes, meta, failures) -> None:
        """File one frame's pattern (or the exception that refused it) into the chunk's lists."""
        fi = self.integrator
        ref = self.refs[index]
        if isinstance(pattern, FrameError):
            failures.append((index, f"{ref.key}: {pattern}"))
            return
        if isinstance(pattern, Exception):
            failures.append((index, f"{ref.key}: integration failed: {type(pattern).__name__}: {pattern}"))
            return
        try:
            if fi.settings.npt_azimuthal and index % self.cfg.cake_every == 0:
                cakes.append((index, fi.cake(data)))
        except FrameError as exc:
            failures.append((index, f"{ref.key}: {exc}"))
            return
        except Exception as exc:  # pyFAI errors on a damaged frame must not stop the run
            failures.append((index, f"{ref.key}: integration failed: {type(exc).__name__}: {exc}"))
            return
        rows.append(index)
        intens.append(pattern.intensity)
        sigmas.append(pattern.sigma)
        meta.append(
            {
                "index": index,
                "header_time": ftime.start.isoformat() if ftime and ftime.start else None,
                "exposure_s": ftime.exposure_s if ftime else None,
                "valid_pixels": pattern.valid_pixels,
                "sha256": self._checksums.get(ref.path),
            }
        )
        self._radial = pattern.radial




# ----------------------------------------------------------------------------- stage


class IntegrateStage(Stage):
    """Recipe stage ``xrd.integrate``: frames in, ``/entry/xrd`` of the results file out.

    Items are the frames (keys: ``file`` or ``file::dataset[i]``); :meth:`write` turns the
    checkpoints into ``/entry/xrd`` (:func:`xpipe.stages.xrd_results.write_xrd`) and
    :meth:`after` makes the frames table, contour map and exports.

    Parameters
    ----------
    cfg : xpipe.recipe.sections.xrd.XrdConfig
        The recipe's ``xrd`` section, with ``frames`` and ``integrate``.
    base_dir : Path
        The recipe's folder.

    Examples
    --------
    >>> from xpipe.stages.registry import build_stages
    >>> import pathlib, xpipe
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> loaded = xpipe.load_recipe(root / "recipes" / "nvp_operando.yaml")
    >>> stage = build_stages(loaded.recipe, loaded.base_dir)[0]
    >>> stage.name, len(stage.keys()), pathlib.Path(stage.keys()[0]).name
    ('xrd.integrate', 38, 'nvp_0001.cbf')
    >>> stage.plan_lines()[-1], type(stage.worker()).__name__
    ('frame times from: header', 'IntegrateWorker')
    """

    name = "xrd.integrate"
    label = "frames"

    @classmethod
    def from_recipe(cls, recipe, base_dir: Path, built: dict[str, Stage]) -> IntegrateStage | None:
        xrd = recipe.xrd
        return cls(xrd, base_dir) if xrd is not None and xrd.patterns is None else None

    def __init__(self, cfg: XrdConfig, base_dir: Path) -> None:
        self.cfg = cfg
        self.base_dir = Path(base_dir)
        self.refs = cfg.frames.refs
        self._keys = [r.key for r in self.refs]
        self.index_of = {k: i for i, k in enumerate(self._keys)}

    def keys(self) -> list[str]:
        return self._keys

    def fingerprint(self):
        """What the integrated stack depends on: frames, their times and the integration settings."""
        return (self.cfg.frames, self.cfg.integrate), sorted({r.path for r in self.refs})

    def worker(self) -> IntegrateWorker:
        return IntegrateWorker(self.cfg.integrate, self.refs, digests=self.input_digests)

    def plan_lines(self) -> list[str]:
        c = self.cfg.integrate
        first, last = self.refs[0].key, self.refs[-1].key
        geom = f"poni {relative_path(c.poni, self.base_dir)}" if c.poni else f"inline geometry ({c.geometry.detector})"
        return [
            f"first {relative_path(first, self.base_dir)}",
            f"last  {relative_path(last, self.base_dir)}",
            f"{geom}; {c.npt} bins in {c.unit}; method {c.method}; error model {c.error_model}",
            *self._opencl_lines(),
            f"frame times from: {self.cfg.frames.time_source}",
        ]

    def _opencl_lines(self) -> list[str]:
        c = self.cfg.integrate
        split, algo, impl = c.method.split("/")
        if impl != "opencl":
            return []
        found, reason = _ocl.select_opencl(1, split, algo, c.opencl_device)
        if found is not None:
            return [f"OpenCL device: {found.target_name}"]
        return [f"no OpenCL device ({reason}): integrating with {split}/{algo}/cython"]

    def geometry(self) -> dict:
        """The resolved geometry of the integration (:func:`integration_geometry`)."""
        return integration_geometry(self.cfg.integrate)

    def write(self, entry, checkpoints):
        return StageSummary(**write_xrd(entry, self, checkpoints))

    def after(self, results_path: Path, outdir: Path) -> list[Path]:
        return stack_outputs(results_path, outdir, self.cfg, self.base_dir)
