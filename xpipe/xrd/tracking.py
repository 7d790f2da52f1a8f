"""Peak tracks across the frames of an operando series, and the events along them.

The science core that turns per-frame peak lists into *tracks* (one reflection followed from
frame to frame) and reads the run from them: which peaks shift continuously (solid solution),
which appear, vanish, split or merge (two-phase reactions). Arrays in, arrays out.

Linking
-------
Frames are taken in time order. Each live track predicts its position in the next frame from
its last two detections (constant drift); candidates are matched to predictions by a
minimum-cost assignment (``scipy.optimize.linear_sum_assignment``, cost = distance) inside a
gate of ``max_shift`` (by default one FWHM of the peak). A track survives ``max_gap`` frames
without a detection (a weak peak lost in noise for a frame); an unmatched candidate starts a
new track. Tracks seen in fewer than ``min_frames`` frames are dropped as noise.

Events
------
``appear``/``vanish`` at the first frame where a track is seen / no longer seen (not at the
ends of the series); an ``appear`` next to a live track that continues (within ``split_relative``
of its position, or of the same reflection of a sibling phase when the tracks are indexed) is a
``split`` of that track, a ``vanish`` next to a continuing track a ``merge`` into it. A
``shift`` is a stretch of frames over which a track moves steadily, by more than
``shift_sigma`` standard uncertainties and ``shift_fwhm`` x its FWHM in all.

Example
-------
>>> import numpy as np
>>> from xpipe.xrd.tracking import link_peaks
>>> frames = [np.array([10.0, 12.0]), np.array([10.01, 12.0]), np.array([10.02, 11.7, 12.0]),
...           np.array([10.03, 11.7])]
>>> tracks = link_peaks(frames, max_shift=0.05, min_frames=2)
>>> np.round(tracks.position, 2).tolist()
[[10.0, 12.0, nan], [10.01, 12.0, nan], [10.02, 12.0, 11.7], [10.03, nan, 11.7]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import spearmanr

__all__ = ["Event", "Tracks", "classify_frames", "find_events", "link_peaks", "stretches"]


@dataclass
class Tracks:
    """Peaks linked across frames; arrays are ``[frame, track]``, NaN where not detected.

    Attributes
    ----------
    position : detected position (unit of the radial axis).
    fwhm, height : width and height of the detection (same unit / intensity).
    first, last : (n_tracks,) first and last frame in which the track was detected.
    settings : linking settings (for provenance).

    Examples
    --------
    >>> import numpy as np
    >>> tracks = link_peaks([np.array([10.0]), np.array([]), np.array([10.02])],
    ...                     fwhm=[np.array([0.05]), np.array([]), np.array([0.05])], min_frames=2)
    >>> tracks.n_frames, tracks.n_tracks, tracks.alive()[:, 0].tolist()
    (3, 1, [True, True, True])
    >>> np.round(tracks.filled_position()[:, 0], 3).tolist()  # the gap filled
    [10.0, 10.01, 10.02]
    """

    position: np.ndarray
    fwhm: np.ndarray
    height: np.ndarray
    first: np.ndarray
    last: np.ndarray
    settings: dict = field(default_factory=dict)

    @property
    def n_tracks(self) -> int:
        return self.position.shape[1]

    @property
    def n_frames(self) -> int:
        return self.position.shape[0]

    def alive(self) -> np.ndarray:
        """``[frame, track]`` True from the first to the last detection (gaps included)."""
        f = np.arange(self.n_frames)[:, None]
        return (f >= self.first[None, :]) & (f <= self.last[None, :])

    def filled_position(self) -> np.ndarray:
        """Positions with gaps inside a track's life filled by linear interpolation."""
        out = self.position.copy()
        f = np.arange(self.n_frames)
        for t in range(self.n_tracks):
            seen = np.isfinite(self.position[:, t])
            life = (f >= self.first[t]) & (f <= self.last[t])
            gap = life & ~seen
            if gap.any():
                out[gap, t] = np.interp(f[gap], f[seen], self.position[seen, t])
        return out


def link_peaks(
    positions: Sequence[np.ndarray],
    *,
    fwhm: Sequence[np.ndarray] | None = None,
    height: Sequence[np.ndarray] | None = None,
    max_shift: float | None = None,
    shift_fwhm: float = 1.0,
    max_gap: int = 1,
    min_frames: int = 3,
) -> Tracks:
    """Link per-frame peak positions into tracks.

    Parameters
    ----------
    positions : one array of candidate positions per frame (unit of the radial axis), in
        time order.
    fwhm, height : matching arrays of widths (radial unit) and heights (intensity), optional;
        widths set the default gate.
    max_shift : largest move of a peak from its predicted position between two frames (unit of
        the radial axis); None: ``shift_fwhm`` x the peak's FWHM (needs ``fwhm``).
    shift_fwhm : gate in FWHM when ``max_shift`` is None.
    max_gap : frames a track may go undetected and still continue.
    min_frames : tracks detected in fewer frames are dropped.

    Returns
    -------
    Tracks
        ``[frame, track]`` arrays, tracks ordered by first frame and then position.

    Examples
    --------
    >>> import numpy as np
    >>> frames = [np.array([10.0, 12.0]), np.array([10.01, 12.0]),
    ...           np.array([10.02, 11.7, 12.0]), np.array([10.03, 11.7])]
    >>> tracks = link_peaks(frames, max_shift=0.05, min_frames=2)
    >>> tracks.first.tolist(), tracks.last.tolist()
    ([0, 0, 2], [3, 2, 3])
    """
    if max_shift is None and fwhm is None:
        raise ValueError("give max_shift, or the candidate fwhm so that the gate can follow the "
                         "peak width")
    pos, wid, hgt = _candidates(positions, fwhm, height)
    members = _link(pos, wid, max_shift, shift_fwhm, max_gap)
    kept = [m for m in members if len(m) >= min_frames]
    kept.sort(key=lambda m: (min(m), pos[min(m)][m[min(m)]]))
    n_frames, n_tr = len(positions), len(kept)
    out_p = np.full((n_frames, n_tr), np.nan)
    out_w = np.full((n_frames, n_tr), np.nan)
    out_h = np.full((n_frames, n_tr), np.nan)
    for t, m in enumerate(kept):
        for f, c in m.items():
            out_p[f, t], out_w[f, t], out_h[f, t] = pos[f][c], wid[f][c], hgt[f][c]
    first = np.array([min(m) for m in kept], dtype=int)
    last = np.array([max(m) for m in kept], dtype=int)
    settings = {"max_shift": max_shift, "shift_fwhm": shift_fwhm if max_shift is None else None,
                "max_gap": max_gap, "min_frames": min_frames,
                "method": "constant-drift prediction, minimum-cost assignment (Hungarian) "
                          "within the gate"}
    return Tracks(out_p, out_w, out_h, first, last, settings)


def _candidates(positions, fwhm, height):
    """Positions, widths and heights of every frame as flat float arrays (NaN when not given)."""
    pos = [np.asarray(p, dtype=float).ravel() for p in positions]
    wid = ([np.asarray(w, dtype=float).ravel() for w in fwhm] if fwhm is not None
           else [np.full(p.shape, np.nan) for p in pos])
    hgt = ([np.asarray(h, dtype=float).ravel() for h in height] if height is not None
           else [np.full(p.shape, np.nan) for p in pos])
    for f in range(len(positions)):
        if not (pos[f].shape == wid[f].shape == hgt[f].shape):
            raise ValueError(f"frame {f}: positions, fwhm and height differ in length")
    return pos, wid, hgt


def _link(pos, wid, max_shift, shift_fwhm, max_gap) -> list[dict[int, int]]:
    """Tracks as dicts frame -> candidate index, frame after frame in time order."""
    members: list[dict[int, int]] = []
    live: list[int] = []
    for f in range(len(pos)):
        live = [t for t in live if f - max(members[t]) <= max_gap + 1]
        cand = pos[f]
        matched_c: set[int] = set()
        if live and cand.size:
            pred, gate = _predict(members, live, pos, wid, f, max_shift, shift_fwhm)
            for r, c in _assign(pred, gate, cand):
                members[live[r]][f] = c
                matched_c.add(c)
        for c in range(cand.size):
            if c not in matched_c:
                members.append({f: c})
                live.append(len(members) - 1)
    return members


def _predict(members, live, pos, wid, f, max_shift, shift_fwhm):
    """Predicted position in frame f of every live track (constant drift from its last two
    detections) and its gate."""
    pred = np.empty(len(live))
    gate = np.empty(len(live))
    for i, t in enumerate(live):
        fr = sorted(members[t])
        f1 = fr[-1]
        x1 = pos[f1][members[t][f1]]
        if len(fr) >= 2:
            f0 = fr[-2]
            x0 = pos[f0][members[t][f0]]
            pred[i] = x1 + (x1 - x0) / (f1 - f0) * (f - f1)
        else:
            pred[i] = x1
        if max_shift is not None:
            gate[i] = max_shift
        else:
            w = np.nanmedian([wid[k][members[t][k]] for k in fr[-5:]])
            gate[i] = shift_fwhm * w if np.isfinite(w) else np.inf
    return pred, gate


def _assign(pred, gate, cand) -> list[tuple[int, int]]:
    """(prediction, candidate) pairs of the minimum-cost assignment inside the gates."""
    cost = np.abs(pred[:, None] - cand[None, :])
    allowed = cost <= gate[:, None]
    big = 1e6 * (1.0 + float(np.nanmax(np.where(np.isfinite(cost), cost, 0.0))))
    rows, cols = linear_sum_assignment(np.where(allowed, cost, big))
    return [(int(r), int(c)) for r, c in zip(rows, cols) if allowed[r, c]]


@dataclass(frozen=True)
class Event:
    """Something that happened to a track.

    Parameters
    ----------
    kind : ``appear``, ``vanish``, ``split``, ``merge`` or ``shift``.
    track : the track concerned (for ``split``/``merge`` the new / the ending one).
    frame : frame where it is first seen (appear, split), first frame without it (vanish,
        merge), first frame of the stretch (shift).
    end_frame : last frame of a shift stretch (= ``frame`` for the others).
    partner : for split/merge the continuing track, else -1.
    position : position at ``frame`` (vanish/merge: last position seen).
    change : total move over a shift stretch (radial unit), else 0.
    change_sigma : its standard uncertainty.

    Examples
    --------
    >>> ev = Event("split", track=3, frame=12, end_frame=12, partner=1, position=10.2)
    >>> ev.kind, ev.partner, ev.change
    ('split', 1, 0.0)
    """

    kind: str
    track: int
    frame: int
    end_frame: int
    partner: int = -1
    position: float = float("nan")
    change: float = 0.0
    change_sigma: float = float("nan")


def find_events(
    position: np.ndarray,
    position_sigma: np.ndarray,
    alive: np.ndarray,
    *,
    fwhm: np.ndarray | None = None,
    siblings: np.ndarray | None = None,
    split_relative: float = 0.03,
    shift_sigma: float = 5.0,
    shift_fwhm: float = 0.1,
    smooth: int = 3,
) -> list[Event]:
    """Events along tracks.

    Parameters
    ----------
    position, position_sigma : ``[frame, track]`` fitted positions and their uncertainties
        (NaN where a fit failed or the track is absent).
    alive : ``[frame, track]`` booleans, True over a track's life.
    fwhm : ``[frame, track]`` widths (for the ``shift_fwhm`` threshold); optional.
    siblings : optional ``[track, track]`` booleans: True where two tracks are the same
        reflection of two phases of one family (then a split/merge partner must be a sibling);
        None: any track within ``split_relative`` qualifies.
    split_relative : a new (ending) track within this relative distance of a live, continuing
        track is a split (merge).
    shift_sigma, shift_fwhm : a shift stretch must move by more than ``shift_sigma`` sigma and
        ``shift_fwhm`` x FWHM.
    smooth : running-median width (frames) applied to positions before reading the drift.

    Returns
    -------
    list of Event
        In frame order; positions and changes in the radial unit.

    Examples
    --------
    >>> import numpy as np
    >>> pos = np.array([[10.0, np.nan], [10.0, np.nan], [10.0, 10.2], [10.0, 10.2],
    ...                 [np.nan, 10.2]])
    >>> events = find_events(pos, np.full(pos.shape, 0.001), np.isfinite(pos))
    >>> [(e.kind, e.track, e.frame, e.partner) for e in events]
    [('split', 1, 2, 0), ('merge', 0, 4, 1)]
    """
    position = np.asarray(position, dtype=float)
    n_frames, n_tr = position.shape
    sig = np.asarray(position_sigma, dtype=float)
    alive = np.asarray(alive, dtype=bool)
    frames = np.arange(n_frames)
    first = np.array([frames[alive[:, t]].min() if alive[:, t].any() else -1 for t in range(n_tr)])
    last = np.array([frames[alive[:, t]].max() if alive[:, t].any() else -1 for t in range(n_tr)])
    ref = np.array([np.nanmedian(position[alive[:, t], t])
                    if np.isfinite(position[alive[:, t], t]).any() else np.nan
                    for t in range(n_tr)])
    events: list[Event] = []
    for t in range(n_tr):
        if first[t] < 0:
            continue
        events.extend(_end_events(t, position, first, last, ref, siblings, split_relative))
        events.extend(_shift_stretches(t, position[:, t], sig[:, t],
                                       None if fwhm is None else fwhm[:, t],
                                       shift_sigma, shift_fwhm, smooth))
    order = {"appear": 0, "split": 0, "shift": 1, "vanish": 2, "merge": 2}
    events.sort(key=lambda e: (e.frame, order[e.kind], e.track))
    return events


def _end_events(t, position, first, last, ref, siblings, split_relative) -> list[Event]:
    """Start (appear or split) and end (vanish or merge) of track t, where not at the ends of
    the series."""
    n_frames = position.shape[0]
    events = []
    if first[t] > 0:
        p = _partner(t, first[t], first, last, ref, siblings, split_relative)
        pos0 = position[first[t], t]
        events.append(Event("split" if p >= 0 else "appear", t, int(first[t]), int(first[t]), p,
                            float(pos0) if np.isfinite(pos0) else float(ref[t])))
    if last[t] < n_frames - 1:
        p = _partner(t, last[t] + 1, first, last, ref, siblings, split_relative)
        seen = np.flatnonzero(np.isfinite(position[: last[t] + 1, t]))
        pos1 = position[seen[-1], t] if seen.size else ref[t]
        events.append(Event("merge" if p >= 0 else "vanish", t, int(last[t] + 1),
                            int(last[t] + 1), p, float(pos1)))
    return events


def _partner(t, frame, first, last, ref, siblings, split_relative) -> int:
    """The track closest to t (median positions) alive before and at ``frame``, or -1.

    For a split the partner is seen before and at the frame where t appears; for a merge it
    continues past the frame where t vanishes. Only siblings qualify when they are given,
    else only tracks within ``split_relative``.
    """
    best, best_d = -1, np.inf
    for u in range(ref.size):
        if u == t or not np.isfinite(ref[u]):
            continue
        if siblings is not None and not siblings[t, u]:
            continue
        if not (first[u] < frame <= last[u]):
            continue
        d = abs(ref[u] - ref[t]) / abs(ref[t])
        if (siblings is not None or d <= split_relative) and d < best_d:
            best, best_d = u, d
    return best


def _running_median(x: np.ndarray, width: int) -> np.ndarray:
    if width <= 1:
        return x.copy()
    h = width // 2
    out = np.full_like(x, np.nan)
    for i in range(x.size):
        seg = x[max(0, i - h) : i + h + 1]
        seg = seg[np.isfinite(seg)]
        if seg.size:
            out[i] = np.median(seg)
    return out


def _shift_stretches(t, pos, sig, wid, shift_sigma, shift_fwhm, smooth) -> list[Event]:
    """Stretches over which one track drifts steadily (see :func:`find_events`)."""
    ok = np.flatnonzero(np.isfinite(pos) & np.isfinite(sig))
    if ok.size < 3:
        return []
    p = _running_median(pos[ok], smooth)
    # the scatter of a position from frame to frame can exceed its fitted uncertainty (close
    # neighbours, changing intensities): use the larger of the two, the scatter estimated
    # robustly from second differences (insensitive to a steady drift)
    jitter = 1.4826 * np.median(np.abs(np.diff(pos[ok], 2))) / np.sqrt(6.0) if ok.size >= 4 else 0.0
    s = max(float(np.nanmedian(sig[ok])), float(jitter))
    w = float(np.nanmedian(wid[ok])) if wid is not None and np.isfinite(wid[ok]).any() else 0.0

    def significant(a: int, b: int) -> Event | None:
        change = pos[b] - pos[a]
        change_sig = float(np.hypot(max(sig[a], s), max(sig[b], s)))
        if abs(change) > shift_sigma * change_sig and abs(change) > shift_fwhm * w:
            return Event("shift", t, int(a), int(b), -1, float(pos[a]), float(change), change_sig)
        return None

    # steps of the smoothed position larger than half a sigma, runs of one sign (single
    # quiet steps inside a run tolerated)
    step = np.diff(p)
    direction = np.where(step > 0.5 * s, 1, np.where(step < -0.5 * s, -1, 0))
    out: list[Event] = []
    i, n = 0, direction.size
    while i < n:
        if direction[i] == 0:
            i += 1
            continue
        d, j, k = direction[i], i, i + 1
        while k < n:
            if direction[k] == d:
                j, k = k, k + 1
            elif direction[k] == 0 and k + 1 < n and direction[k + 1] == d:
                k += 1
            else:
                break
        ev = significant(ok[i], ok[j + 1])
        if ev is not None:
            out.append(ev)
        i = j + 1
    if not out and ok.size >= 5 and np.ptp(pos[ok]) > 0:
        # a drift too slow to see frame to frame: monotonic over the whole track
        rho = spearmanr(np.arange(ok.size), pos[ok]).statistic
        if abs(rho) >= 0.9:
            ev = significant(ok[0], ok[-1])
            if ev is not None:
                out.append(ev)
    return out


def classify_frames(
    n_frames: int,
    *,
    coexisting: np.ndarray | None = None,
    moving: np.ndarray | None = None,
) -> np.ndarray:
    """Label each frame ``two-phase``, ``solid-solution`` or ``stable``.

    Parameters
    ----------
    n_frames : number of frames.
    coexisting : ``[frame]`` True where two phases of one family (or a split pair of tracks)
        are present together: two-phase, whatever else happens.
    moving : ``[frame]`` True where a cell (or a tracked peak) changes significantly:
        solid-solution unless two-phase.

    Returns
    -------
    np.ndarray
        (n_frames,) strings.

    Examples
    --------
    >>> classify_frames(4, coexisting=[0, 0, 1, 0], moving=[0, 1, 1, 0]).tolist()
    ['stable', 'solid-solution', 'two-phase', 'stable']
    """
    label = np.full(n_frames, "stable", dtype=object)
    if moving is not None:
        label[np.asarray(moving, dtype=bool)] = "solid-solution"
    if coexisting is not None:
        label[np.asarray(coexisting, dtype=bool)] = "two-phase"
    return label.astype(str)


def stretches(labels: Sequence[str]) -> list[tuple[str, int, int]]:
    """Runs of equal labels as ``(label, first_frame, last_frame)``.

    Parameters
    ----------
    labels : one label per frame, in frame order.

    Returns
    -------
    list of (label, first_frame, last_frame)
        Frames counted from 0, both ends included.

    Examples
    --------
    >>> stretches(["a", "a", "b", "a"])
    [('a', 0, 1), ('b', 2, 2), ('a', 3, 3)]
    """
    out: list[tuple[str, int, int]] = []
    for i, lab in enumerate(labels):
        if out and out[-1][0] == lab:
            out[-1] = (lab, out[-1][1], i)
        else:
            out.append((str(lab), i, i))
    return out
