"""The clock of XRD frames and patterns: each one's time by the recipe's ``time_source``."""

from __future__ import annotations

import logging
import os

from ..io.frames import FrameRef, FrameTime, hdf5_times, mtime, series_offsets
from ..recipe.sections.xrd_frames import FramesConfig

log = logging.getLogger("xpipe")


def frame_times(cfg: FramesConfig, refs: list[FrameRef], header_times: dict[int, FrameTime]) -> list[FrameTime | None]:
    """Resolve every frame's time by the recipe's ``time_source`` ('auto' falls back in order)."""
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
