"""xpipe: recipe-driven processing of operando X-ray data from battery experiments."""

__version__ = "0.1.0"
