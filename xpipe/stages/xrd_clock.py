"""The clock of XRD frames and patterns: each one's time by the recipe's ``time_source``."""

from __future__ import annotations

import logging
import os

from ..io.frames import FrameRef, FrameTime, hdf5_times, mtime, series_offsets
from ..recipe.sections.xrd_frames import FramesConfig

log = logging.getLogger("xpipe")


def frame_times(cfg: FramesConfig, refs: list[FrameRef], header_times: dict[int, FrameTime]) -> list[FrameTime | None]:
    """Resolve every frame's time by the recipe's ``time_source`` ('auto' falls back in order).

    'auto' takes the scan log's times when there is one, else per frame the HDF5 time dataset,
    the file header, then the file's modification time. Frames of ``xrd.frames`` left without
    a time are named in a warning.

    Parameters
    ----------
    cfg : xpipe.recipe.sections.xrd_frames.FramesConfig or PatternsConfig
        The recipe's ``xrd.frames`` (or ``xrd.patterns``) section.
    refs : list of FrameRef
        The frames, in order.
    header_times : dict of int to FrameTime
        The times read from the frames' headers, by index into ``refs``.

    Returns
    -------
    list of FrameTime or None
        The time of each frame (start, exposure in s, source), None where there is none.

    Examples
    --------
    >>> import pathlib, xpipe
    >>> from datetime import datetime, timedelta
    >>> from xpipe.io.frames import FrameTime
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> frames = xpipe.load_recipe(root / "recipes" / "nvp_operando.yaml").recipe.xrd.frames
    >>> frames.time_source
    'header'
    >>> t0 = datetime(2025, 3, 14, 9, 0)
    >>> read = {i: FrameTime(t0 + timedelta(minutes=10 * i), 60.0, "header") for i in range(2)}
    >>> [(t.start.strftime("%H:%M"), t.exposure_s, t.source)
    ...  for t in frame_times(frames, frames.refs[:2], read)]
    [('09:00', 60.0, 'header'), ('09:10', 60.0, 'header')]
    """
    n = len(refs)
    src = cfg.time_source
    if src in ("auto", "scan_log") and getattr(cfg, "_log_times", None) is not None:
        return list(cfg._log_times)
    out: list[FrameTime | None] = [None] * n
    if src in ("auto", "hdf5"):
        by_file: dict[str, list[int]] = {}
        for i, r in enumerate(refs):
            if r.dataset is not None:
                by_file.setdefault(r.path, []).append(i)
        for path, idx in by_file.items():
            # frames of an Eiger master's data_000002... parts continue the series of the first
            offsets = series_offsets(path, sorted({refs[i].dataset for i in idx}))
            place = {i: offsets[refs[i].dataset] + (refs[i].index or 0) for i in idx}
            times = hdf5_times(path, refs[idx[0]].dataset, max(place.values()) + 1, cfg.hdf5_time_dataset)
            if times:
                for i in idx:
                    out[i] = times[place[i]]
    if src in ("auto", "header"):
        for i, t in header_times.items():
            if out[i] is None and t is not None and t.start is not None:
                out[i] = t
    if src == "mtime" or src == "auto":
        for i, r in enumerate(refs):
            if out[i] is None and os.path.exists(r.path):
                exposure = header_times[i].exposure_s if header_times.get(i) else None
                out[i] = FrameTime(mtime(r.path), exposure, "mtime")
    if isinstance(cfg, FramesConfig):
        untimed = [refs[i].key for i in header_times if out[i] is None or out[i].start is None]
        if untimed:
            log.warning(
                "xrd frames: %d frame(s) have no time by xrd.frames.time_source '%s', e.g. %s; their "
                "frame_time_s is NaN (time_source 'none' in the results). Set xrd.frames.time_source to "
                "'mtime' or 'scan_log' (with xrd.frames.scan_log), or 'auto'",
                len(untimed), src, os.path.basename(untimed[0]),
            )
    return out
