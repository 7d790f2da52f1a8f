"""X-ray absorption: readers, XANES normalisation, edges and valence, EXAFS shell fits (Larch).

``readers`` (one module per file format), ``scan`` (the raw scan), ``edge``, ``prepare`` and
``xanes`` (calibration, merging, normalisation, edge position, pre-edge), ``valence``
(calibration against standards, LCF, PCA), ``series`` (a whole series), and ``exafs`` with
``feff``, ``chi`` and ``shellfit`` (FEFF paths, chi(k)/chi(R), shell fits).
"""
