"""Electrochemistry: cycler files as one table, their clock, and the electrode.

- :mod:`.readers`: battery-cycler files (BioLogic, Neware, Arbin, delimited tables) read into
  :class:`~xpipe.echem.readers.CyclerData`, one module per format.
- :mod:`.align`: frame and scan times on the cycler's clock, the cell's state at those times.
- :mod:`.electrode`: from charge passed to ion content x and state of charge.
"""
