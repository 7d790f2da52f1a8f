"""Peak tracks, events and frame classes: the core on small constructed cases."""

from __future__ import annotations

import numpy as np
import pytest

from xpipe.xrd.tracking import classify_frames, find_events, link_peaks, stretches


def test_tracks_follow_drift_and_survive_a_missed_frame():
    # peak A drifts 0.02 per frame (faster than half the gate), B is missed in frame 3
    frames = [np.array([10.0 + 0.02 * f] + ([] if f == 3 else [11.0])) for f in range(8)]
    tr = link_peaks(frames, max_shift=0.03, max_gap=1, min_frames=3)
    assert tr.n_tracks == 2
    np.testing.assert_allclose(tr.position[:, 0], 10.0 + 0.02 * np.arange(8))
    assert np.isnan(tr.position[3, 1]) and tr.first[1] == 0 and tr.last[1] == 7
    assert tr.filled_position()[3, 1] == pytest.approx(11.0)


def test_a_gap_longer_than_allowed_starts_a_new_track():
    frames = [np.array([5.0])] * 3 + [np.array([])] * 2 + [np.array([5.0])] * 3
    tr = link_peaks(frames, max_shift=0.1, max_gap=1, min_frames=2)
    assert tr.n_tracks == 2
    assert (tr.first.tolist(), tr.last.tolist()) == ([0, 5], [2, 7])


def test_noise_detections_are_dropped_and_the_gate_follows_the_width():
    frames = [np.array([3.0, 7.0 + (0.5 if f == 2 else 0.0)]) for f in range(6)]
    widths = [np.array([0.1, 0.1])] * 6
    tr = link_peaks(frames, fwhm=widths, shift_fwhm=1.0, min_frames=3, max_gap=0)
    # the 7.5 detection is 5 FWHM away: not the same peak, so the 7.0 track ends (no gap
    # allowed); that 2-frame track and the lone 7.5 are dropped as noise, 7.0 restarts at 3
    assert tr.n_tracks == 2
    assert (tr.first.tolist(), tr.last.tolist()) == ([0, 3], [5, 5])
    with pytest.raises(ValueError, match="max_shift"):
        link_peaks(frames)


def _events(position, alive, **kw):
    sig = np.full(position.shape, 1e-3)
    return find_events(position, sig, alive, **kw)


def test_two_phase_events_split_and_merge_with_their_partner():
    n = 12
    pos = np.full((n, 2), np.nan)
    pos[:, 0] = 16.0           # parent, lives throughout
    pos[3:9, 1] = 16.3         # new cell's peak appears at frame 3, gone from frame 9
    alive = np.isfinite(pos)
    ev = _events(pos, alive, split_relative=0.03)
    kinds = [(e.kind, e.track, e.frame, e.partner) for e in ev]
    assert ("split", 1, 3, 0) in kinds and ("merge", 1, 9, 0) in kinds
    # with indexed tracks, only the same reflection of a sibling phase counts as a partner
    ev = _events(pos, alive, siblings=np.zeros((2, 2), dtype=bool))
    assert [e.kind for e in ev] == ["appear", "vanish"]


def test_steady_drift_is_one_shift_event_and_noise_is_none():
    rng = np.random.default_rng(3)
    n = 30
    pos = np.zeros((n, 2))
    pos[:, 0] = 10.0 + np.where(np.arange(n) < 10, 0.01 * np.arange(n), 0.09) + rng.normal(0, 1e-4, n)
    pos[:, 1] = 12.0 + rng.normal(0, 1e-3, n)  # noise ten times the stated sigma, no drift
    alive = np.ones_like(pos, dtype=bool)
    ev = _events(pos, alive)
    shifts = [e for e in ev if e.kind == "shift"]
    assert len(shifts) == 1 and shifts[0].track == 0
    assert shifts[0].frame <= 1 and 9 <= shifts[0].end_frame <= 11
    assert shifts[0].change == pytest.approx(0.09, abs=0.01)


def test_slow_monotonic_drift_is_seen_over_the_whole_track():
    n = 50
    pos = (2.678 - 0.0004 * np.arange(n) + np.random.default_rng(1).normal(0, 1e-4, n))[:, None]
    ev = find_events(pos, np.full(pos.shape, 2e-4), np.ones_like(pos, dtype=bool))
    assert [(e.kind, e.frame, e.end_frame) for e in ev] == [("shift", 0, 49)]


def test_frame_classes_and_stretches():
    kind = classify_frames(6, coexisting=np.array([0, 0, 1, 1, 0, 0], bool), moving=np.array([1, 1, 1, 0, 0, 1], bool))
    assert kind.tolist() == ["solid-solution", "solid-solution", "two-phase", "two-phase", "stable", "solid-solution"]
    assert stretches(kind) == [("solid-solution", 0, 1), ("two-phase", 2, 3), ("stable", 4, 4), ("solid-solution", 5, 5)]
