"""Damaged 1D pattern files are refused with the line that is wrong: a file cut off in its
last row, fewer rows than the header states, values no detector or axis reaches. Files are
written into ``tmp_path`` the way strip detectors and Fit2D/GSAS write them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xpipe.io.patterns import PatternReadError, read_pattern

N = 300


def xye_text(n: int = N) -> str:
    """A summed strip-detector pattern: 2theta, counts, sigma, six decimals, one row a line."""
    tth = 2.08 + 0.004 * np.arange(n)
    counts = 1400.0 + 300.0 * np.exp(-0.5 * ((tth - 2.6) / 0.02) ** 2)
    return "".join(f"{t:.6f} {c:.6f} {np.sqrt(c):.6f}\n" for t, c in zip(tth, counts))


def test_an_xye_file_cut_to_a_third_is_refused(tmp_path):
    text = xye_text()
    start = text.rfind("\n", 0, len(text) // 3) + 1  # the row a third into the file
    cut = text.rfind(".", start, text.find("\n", start)) + 3  # two decimals into its sigma
    path = tmp_path / "p.xye"
    path.write_text(text[:cut])
    line = text[:cut].count("\n") + 1
    with pytest.raises(PatternReadError, match=rf"p\.xye' line {line}: the last row is cut off"):
        read_pattern(path)
    full = tmp_path / "full.xye"
    full.write_text(text)
    assert read_pattern(full).n_points == N


def test_a_last_row_ending_in_a_broken_number_is_refused(tmp_path):
    path = tmp_path / "p.xye"
    text = xye_text()
    path.write_text(text + "3.280000 1400.000000 37.4e")
    with pytest.raises(PatternReadError, match=rf"line {N + 1}: the last row is cut off"):
        read_pattern(path)
    path.write_text(text + "3.280000 1400.000000 37.4")
    with pytest.raises(PatternReadError, match=rf"line {N + 1}: the last row is cut off"):
        read_pattern(path)


@pytest.mark.parametrize("value", ["1e308", "-3.5e45"])
def test_an_absurd_value_is_refused_naming_its_line(tmp_path, value):
    lines = xye_text().splitlines()
    t, _, s = lines[41].split()
    lines[41] = f"{t} {value} {s}"
    path = tmp_path / "p.xye"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(PatternReadError, match=r"p\.xye' line 42: intensity .* is beyond any measured value"):
        read_pattern(path)


def test_a_chi_file_with_fewer_rows_than_its_header_states_is_refused(tmp_path):
    rows = "".join(f"{5 + 0.1 * i:.4f} {50 + i:.3f}\n" for i in range(40))
    path = tmp_path / "p.chi"
    path.write_text("scan 1\n2-Theta Angle (Degrees)\nIntensity\n      120\n" + rows)
    with pytest.raises(PatternReadError, match=r"p\.chi': its header states 120 points, but the file holds 40"):
        read_pattern(path)
    path.write_text("scan 1\n2-Theta Angle (Degrees)\nIntensity\n      40\n" + rows)
    assert read_pattern(path).n_points == 40


def test_a_gsas_bank_with_fewer_rows_than_it_states_is_refused(tmp_path):
    rows = "".join(f"{1000 + 10 * i} {100 + i} {10}\n" for i in range(30))
    path = tmp_path / "p.fxye"
    path.write_text("title\nBANK 1 90 90 CONS 1000 10 0 0 FXYE\n" + rows)
    with pytest.raises(PatternReadError, match=r"p\.fxye': its header states 90 points, but the file holds 30"):
        read_pattern(Path(path))


def test_chi_refuses_exafs_chi_of_k_and_a_missing_fit2d_header(tmp_path):
    """A Larch/IFEFFIT chi(k) file shares the .chi suffix with Fit2D patterns: it is refused, not
    read with its first rows taken for Fit2D's header."""
    from xpipe.io.patterns import PatternReadError, read_pattern

    exafs = tmp_path / "cu.chi"
    exafs.write_text("# Output from Larch\n#-----\n#  k   chi\n" + "".join(f"{0.05 * i:.2f} {0.5 - 0.01 * i}\n"
                                                                      for i in range(30)))
    with pytest.raises(PatternReadError, match=r"holds EXAFS chi\(k\) \(columns 'k chi'\)"):
        read_pattern(exafs)
    headless = tmp_path / "headless.chi"
    headless.write_text("".join(f"{10 + 0.01 * i:.2f} {100 + i}\n" for i in range(30)))
    with pytest.raises(PatternReadError, match="line 4 is a data row"):
        read_pattern(headless)
