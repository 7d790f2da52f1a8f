"""Peak tracks seen through a whole-pattern refinement: (hkl) labels from the refined cells.

The refinement decides which phases are present and where their reflections are in every
frame; tracked peaks are only a view of it, for the events table and the contour overlay.
A track takes the (phase, reflection group) whose refined position lies within
``tolerance_fwhm`` FWHM of the track in most of the frames where both exist; a track near
reflections of two present phases in most frames is ``ambiguous``, near two reflections of one
phase an ``overlap``, near none ``unindexed``, unless it is alone on one reflection in some
frames and that reflection is among its neighbours in every other frame.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from .phases import Assignment, PhaseModel
from .wholepattern import cell_of

__all__ = ["index_tracks"]


def index_tracks(position: np.ndarray, fwhm: np.ndarray, phases: list[PhaseModel], gstar: list, present: np.ndarray,
                 *, unit: str, wavelength_a: float | None, zero=None, tolerance_fwhm: float = 0.5) -> Assignment:
    """Label tracks from refined cells.

    Parameters
    ----------
    position : ndarray
        ``[frame, track]`` track positions (radial unit), NaN where absent.
    fwhm : ndarray
        ``(n_tracks,)`` typical FWHM of each track (radial unit).
    phases : list of PhaseModel
        The candidate phases.
    gstar : list
        ``gstar[frame][phase]`` refined free reciprocal-metric parameters (1/A^2; None: not
        refined).
    present : ndarray of bool
        ``[frame, phase]`` presence from the refinement.
    unit : str
        ``2th_deg``, ``q_A^-1`` or ``q_nm^-1``.
    wavelength_a : float or None
        Wavelength (A).
    zero : ndarray, optional
        ``(n_frames,)`` zero shift of each frame (degrees, 2theta axes), default 0.
    tolerance_fwhm : float
        How close (in FWHM) a refined reflection must be to count.

    Returns
    -------
    Assignment
        Phase, reflection group, status (``indexed``, ``overlap``, ``ambiguous`` or
        ``unindexed``) and label of every track; each phase's first frame present.

    Examples
    --------
    Two tracks on the first two reflections of a cubic phase, one on none:

    >>> import numpy as np
    >>> from xpipe.xrd.phases import make_phase
    >>> from xpipe.xrd.reflections import Cell
    >>> from xpipe.xrd.trackview import index_tracks
    >>> from xpipe.xrd.wholepattern import gstar_of
    >>> ph = make_phase("LaB6", space_group="P m -3 m", cell=Cell.cubic(4.1569), d_min_a=1.0)
    >>> pos = ph.group_positions("2th_deg", 0.7749)
    >>> position = np.array([[pos[0], pos[1], 12.0], [pos[0], pos[1], 12.0]])  # two frames
    >>> g = gstar_of(ph.cell, ph.system)
    >>> a = index_tracks(position, np.full(3, 0.05), [ph], [[g], [g]], np.ones((2, 1), dtype=bool),
    ...                  unit="2th_deg", wavelength_a=0.7749)
    >>> a.status.tolist(), a.label.tolist()
    (['indexed', 'indexed', 'unindexed'], ['(1 0 0)', '(1 1 0)', ''])
    """
    n_frames, n_tr = position.shape
    zero = np.zeros(n_frames) if zero is None else np.asarray(zero, dtype=float)
    votes, first_frame = _votes(position, fwhm, phases, gstar, present, unit, wavelength_a, zero, tolerance_fwhm)
    ph_of = np.full(n_tr, -1)
    gr_of = np.full(n_tr, -1)
    status = np.full(n_tr, "unindexed", dtype=object)
    label = np.full(n_tr, "", dtype=object)
    for t in range(n_tr):
        if not votes[t]:
            continue
        kind, what = _decide(votes[t])
        status[t] = kind
        if kind == "indexed":
            ph_of[t], gr_of[t] = what
            label[t] = phases[what[0]].group_label(what[1])
        elif kind == "overlap":
            ph_of[t] = what[0][0]
            label[t] = " + ".join(phases[i].group_label(g) for i, g in what)
        else:
            label[t] = " or ".join(f"{phases[i].name} {phases[i].group_label(g)}" for i, g in what)
    anchored = np.array([int(np.argmax(present[:, i])) if present[:, i].any() else -1 for i in range(len(phases))])
    settings = {"method": "labels from the refined cells of every frame (majority over the frames of a track)",
                "tolerance_fwhm": tolerance_fwhm}
    return Assignment(ph_of, gr_of, status.astype(str), label.astype(str), first_frame, anchored,
                      np.array([p.n_params for p in phases]), settings)


def _votes(position, fwhm, phases, gstar, present, unit, wavelength_a, zero, tolerance_fwhm):
    """Per track, how many frames put it near one reflection (``indexed``), near several of one
    phase (``overlap``) or near reflections of several phases (``ambiguous``); and the first
    frame where it was near any."""
    n_frames, n_tr = position.shape
    votes: list[Counter] = [Counter() for _ in range(n_tr)]
    first_frame = np.full(n_tr, -1)
    for f in range(n_frames):
        preds = {}
        for i, ph in enumerate(phases):
            if present[f, i] and gstar[f][i] is not None:
                preds[i] = ph.group_positions(unit, wavelength_a, cell_of(gstar[f][i], ph.system))
                if unit == "2th_deg":
                    preds[i] = preds[i] + float(zero[f])
        for t in np.flatnonzero(np.isfinite(position[f])):
            near = []
            for i, xp in preds.items():
                near.extend((i, int(g)) for g in np.flatnonzero(np.abs(xp - position[f, t]) <= tolerance_fwhm * fwhm[t]))
            if not near:
                continue
            if first_frame[t] < 0:
                first_frame[t] = f
            phs = sorted({i for i, _ in near})
            if len(phs) > 1:
                votes[t][("ambiguous", tuple(near))] += 1
            elif len(near) > 1:
                votes[t][("overlap", tuple(near))] += 1
            else:
                votes[t][("indexed", near[0])] += 1
    return votes, first_frame


def _decide(votes: Counter):
    """The majority ``(kind, what)`` of one track's votes; a track alone on one reflection in
    some frames and near it among others elsewhere (a two-phase stretch) is that reflection, if
    every frame agrees with it."""
    (kind, what), _ = votes.most_common(1)[0]
    single = [(n, w) for (k, w), n in votes.items() if k == "indexed"]
    if kind != "indexed" and single:
        _, cand = max(single)
        agree = sum(n for (k, w), n in votes.items()
                    if (k == "indexed" and w == cand) or (k != "indexed" and cand in w))
        if agree == sum(votes.values()):
            kind, what = "indexed", cand
    return kind, what
