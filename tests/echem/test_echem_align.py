"""One time axis: electrode arithmetic, clock alignment, offset recovery, ex situ placement."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from xpipe.echem.align import (
    AlignmentError,
    cycler_seconds,
    estimate_offset,
    half_cycle_of,
    place,
    state_at,
)
from xpipe.echem.electrode import (
    Electrode,
    molar_mass_g_mol,
    parse_formula,
    pretty_formula,
    x_formula,
)
from xpipe.echem.readers import CyclerData

START = datetime(2025, 3, 14, 9, 0, 0)


def nvp_voltage(x):
    """A Na3V2(PO4)3-like charge curve: sloped ends, a gently sloped plateau near 3.40 V."""
    x = np.asarray(x, float)
    return np.where(x > 2.9, 3.40 - 1.5 * (x - 2.9) * 2,
                    np.where(x < 1.1, 3.41 + 2.0 * (1.1 - x), 3.40 + 0.01 * (2.9 - x) / 1.8))


def synthetic_cycler(dt_s=10.0, noise_v=0.0005, seed=1):
    """Rest 600 s, charge 10000 s (x 3 -> 1.2), rest 600 s, discharge back; 0.18 mAh per x."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, 22000.0 + dt_s, dt_s)
    mah_per_x = 0.1764
    rate = 1.8 * mah_per_x / 10000.0  # mAh per s
    cap = np.clip(t - 600, 0, 10000) * rate - np.clip(t - 11200, 0, 10000) * rate
    direction = np.where((t > 600) & (t <= 10600), 1, np.where((t > 11200) & (t <= 21200), -1, 0)).astype(np.int8)
    x = 3.0 - cap / mah_per_x
    v = nvp_voltage(x) + rng.normal(0, noise_v, t.size) + 0.01 * direction
    half = np.where(t <= 600, 0, np.where(t <= 11200, 1, 2))
    current = direction * rate * 3600.0
    return CyclerData(time_s=t, voltage_v=v, current_ma=current, capacity_mah=cap, cycle=np.ones(t.size, np.int64),
                      half_cycle=half.astype(np.int64), direction=direction, step=half.astype(np.int64) + 1, start=START,
                      source="synthetic", format="csv", meta={})


def test_formula_and_electrode_match_the_example_truth():
    assert parse_formula("Na3V2(PO4)3") == {"Na": 3.0, "V": 2.0, "P": 3.0, "O": 12.0}
    assert parse_formula("LiNi0.8Mn0.1Co0.1O2")["Ni"] == pytest.approx(0.8)
    assert molar_mass_g_mol("Na3V2(PO4)3") == pytest.approx(455.8, abs=0.1)
    e = Electrode("Na3V2(PO4)3", 3.0, ion="Na", x_min=1.0)
    # example_data/nvp_operando/truth.json: capacity_per_na_mah 0.1764, 117.6 mAh/g for 2 Na
    assert e.mah_per_x == pytest.approx(0.1764, abs=2e-4)
    assert e.capacity_full_mah / 3e-3 == pytest.approx(117.6, abs=0.2)
    assert e.x(2 * e.mah_per_x) == pytest.approx(1.0)
    assert e.capacity_mah(e.x(0.1)) == pytest.approx(0.1)
    assert x_formula("Na3V2(PO4)3", "Na") == "NaxV2(PO4)3"
    assert pretty_formula("NaxV2(PO4)3") == "NaₓV₂(PO₄)₃"
    with pytest.raises(ValueError, match="does not contain the ion 'Li'"):
        Electrode("Na3V2(PO4)3", 3.0, ion="Li")
    with pytest.raises(ValueError, match="unbalanced"):
        parse_formula("Na3V2(PO4")


def test_frames_on_the_cycler_clock_with_a_known_offset():
    cyc = synthetic_cycler(noise_v=0.0)
    true_t = np.arange(300.0, 21000.0, 600.0)
    offset = 137.5  # the beamline clock runs 137.5 s behind the cycler's
    frame_clock = [START + timedelta(seconds=float(s) - offset) for s in true_t]
    t = cycler_seconds(frame_clock, START, offset_s=offset)
    assert np.allclose(t, true_t, atol=1e-6)
    st = state_at(cyc, t)
    assert np.allclose(st.voltage_v, np.interp(true_t, cyc.time_s, cyc.voltage_v), atol=1e-12)
    assert np.allclose(st.capacity_mah, np.interp(true_t, cyc.time_s, cyc.capacity_mah), atol=1e-12)
    # without the offset, voltages on the sloped start of charge are visibly off
    wrong = state_at(cyc, cycler_seconds(frame_clock, START)).voltage_v
    assert np.nanmax(np.abs(wrong - st.voltage_v)) > 0.02
    outside = state_at(cyc, np.array([-5.0, 1e6]))
    assert np.isnan(outside.voltage_v).all() and (outside.half_cycle == -1).all()


def test_clock_offset_is_recovered_from_logged_voltages():
    cyc = synthetic_cycler()
    rng = np.random.default_rng(7)
    true_t = np.arange(400.0, 21500.0, 300.0)
    offset = -412.0
    logged_v = np.interp(true_t, cyc.time_s, cyc.voltage_v) + rng.normal(0, 0.001, true_t.size)
    nominal = true_t - offset  # what the frame clock says, in seconds after the cycler start
    fit = estimate_offset(cyc, nominal, logged_v, search_s=(-3600, 3600))
    assert fit.offset_s == pytest.approx(offset, abs=max(3 * fit.offset_err_s, 2.0))
    assert fit.offset_err_s < 10
    assert fit.rms_v < 0.003


def test_mixed_time_zones_need_a_zone():
    aware = datetime(2025, 3, 14, 8, 0, tzinfo=timezone.utc)
    with pytest.raises(AlignmentError, match="echem.timezone"):
        cycler_seconds([aware], START)
    t = cycler_seconds([aware], START, timezone="Europe/Paris")  # 08:00 UTC = 09:00 CET
    assert t[0] == pytest.approx(0.0)


def test_ex_situ_placement_by_voltage():
    cyc = synthetic_cycler()
    half = half_cycle_of(cyc, "first_charge")
    assert half == 1
    # on the steep start of charge: placed tightly
    p = place(cyc, 3.20, half, "voltage", tolerance=0.003)
    x_true = 2.9 + (3.40 - 3.19) / 3.0
    t_true = 600 + (3.0 - x_true) * 0.1764 / (1.8 * 0.1764 / 10000.0)
    assert p.time_s == pytest.approx(t_true, abs=60)
    assert p.time_err_s < 60
    # on the plateau the same voltage holds over a long stretch: a loose placement, honestly
    q = place(cyc, 3.415, half, "voltage", tolerance=0.003)
    assert q.time_err_s > 500
    # below the half-cycle's voltages (an OCV sample): its start, with a note
    r = place(cyc, 3.0, half, "voltage")
    assert r.time_s == pytest.approx(cyc.time_s[cyc.half_cycle == 1][cyc.direction[cyc.half_cycle == 1] != 0][0])
    assert "outside" in r.note
    with pytest.raises(AlignmentError, match="half-cycle 7"):
        half_cycle_of(cyc, 7)
