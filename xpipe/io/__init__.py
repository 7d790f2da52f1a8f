"""Input files to typed arrays: the reader families that all stages share.

- :mod:`xpipe.io.registry`: one registry per family of input files (name, suffixes, sniff,
  read), so that a family's dispatcher names no format.
- :mod:`xpipe.io.frames`: 2D detector frames (HDF5/NeXus stacks, fabio images), the listing
  of a recipe's inputs and frame times.
- :mod:`xpipe.io.patterns`: already-reduced 1D diffraction patterns (.xye, column files,
  Fit2D .chi, GSAS .fxye).
"""
