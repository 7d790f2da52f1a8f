"""VAMAS (ISO 14976) text of the simulated XPS series: NORM experiment, REGULAR scans.

One file per electrode, one block per region, kinetic-energy abscissa, CRLF line ends; the
instrument settings of every block are those of :mod:`xpipe.synth.xps_model`.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from .xps_model import (
    ANALYSER_MODE,
    ANALYSIS_WIDTH_UM,
    DWELL_S,
    HV_EV,
    N_SCANS,
    PASS_ENERGY_EV,
    SOURCE_LABEL,
    SOURCE_POLAR_DEG,
    SOURCE_POWER_W,
    STEP_EV,
    WORK_FUNCTION_EV,
    Region,
)

#: Hours in advance of GMT written in every block (the clock of the laboratory).
GMT_OFFSET_H = 1


# ------------------------------------------------------------------------ VAMAS


def _fmt(v: float) -> str:
    """Compact decimal for header numbers (no exponent, no trailing zeros)."""
    s = f"{float(v):.6f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _vamas_text(*, experiment_id: str, comments: list, blocks: list) -> str:
    """VAMAS (ISO 14976) text: NORM experiment, REGULAR scans, one corresponding variable.

    ``blocks``: dicts with ``region`` (:class:`Region`), ``sample``, ``time`` (datetime),
    ``comments`` (list of str), ``voltage`` (the one experimental variable) and ``counts``
    (int array in increasing kinetic-energy order).
    """
    L = [
        "VAMAS Surface Chemical Analysis Standard Data Transfer Format 1988 May 4",
        "xpipe simulated laboratory",          # institution identifier
        "simulated monochromatic Al Ka XPS",   # instrument model identifier
        "xpipe.synth.xps",                     # operator identifier
        experiment_id,                         # experiment identifier
        str(len(comments)),                    # number of lines in comment
        *comments,
        "NORM",                                # experiment mode
        "REGULAR",                             # scan mode
        str(len(blocks)),                      # number of spectral regions
        "1",                                   # number of experimental variables
        "Cell voltage", "V",                   # experimental variable label, units
        "0",                                   # entries in parameter inclusion/exclusion list
        "0",                                   # number of manually entered items in block
        "0",                                   # number of future upgrade experiment entries
        "0",                                   # number of future upgrade block entries
        str(len(blocks)),                      # number of blocks
    ]
    for b in blocks:
        r: Region = b["region"]
        t: datetime = b["time"]
        counts = np.asarray(b["counts"], dtype=np.int64)
        L += [
            r.name,                            # block identifier
            b["sample"],                       # sample identifier
            str(t.year), str(t.month), str(t.day), str(t.hour), str(t.minute), str(t.second),
            str(GMT_OFFSET_H),                 # hours in advance of GMT
            str(len(b["comments"])),           # lines in block comment
            *b["comments"],
            "XPS",                             # technique
            _fmt(b["voltage"]),                # value of the experimental variable
            SOURCE_LABEL,                      # analysis source label
            _fmt(HV_EV),                       # analysis source characteristic energy
            _fmt(SOURCE_POWER_W),              # analysis source strength
            _fmt(ANALYSIS_WIDTH_UM[0]),        # analysis source beam width x
            _fmt(ANALYSIS_WIDTH_UM[1]),        # analysis source beam width y
            _fmt(SOURCE_POLAR_DEG),            # analysis source polar angle of incidence
            "0",                               # analysis source azimuth
            ANALYSER_MODE,                     # analyser mode
            _fmt(PASS_ENERGY_EV),              # analyser pass energy
            "1",                               # magnification of analyser transfer lens
            _fmt(WORK_FUNCTION_EV),            # analyser work function
            "0",                               # target bias
            _fmt(ANALYSIS_WIDTH_UM[0]),        # analysis width x
            _fmt(ANALYSIS_WIDTH_UM[1]),        # analysis width y
            "0",                               # analyser axis take off polar angle
            "0",                               # analyser axis take off azimuth
            r.species,                         # species label
            r.transition,                      # transition or charge state label
            "-1",                              # charge of detected particle
            "Kinetic Energy",                  # abscissa label
            "eV",                              # abscissa units
            _fmt(r.ke_start),                  # abscissa start
            _fmt(STEP_EV),                     # abscissa increment
            "1",                               # number of corresponding variables
            "counts", "d",                     # corresponding variable label, units
            "pulse counting",                  # signal mode
            _fmt(DWELL_S),                     # signal collection time (per channel, per scan)
            str(N_SCANS),                      # number of scans to compile this block
            "0",                               # signal time correction
            "0",                               # sample normal polar angle of tilt
            "0",                               # sample normal tilt azimuth
            "0",                               # sample rotation angle
            "0",                               # number of additional numerical parameters
            str(counts.size),                  # number of ordinate values
            str(int(counts.min())), str(int(counts.max())),  # min, max of the variable
            *(str(int(c)) for c in counts.tolist()),
        ]
    L.append("end of experiment")
    return "\r\n".join(L) + "\r\n"
