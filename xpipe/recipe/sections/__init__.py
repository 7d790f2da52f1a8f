"""The recipe's sections: one module per technique, each a set of typed dataclasses.

A section is plain data with its documentation (``setting(doc=..., unit=...)``) and its checks
(``check(ctx)`` yields ``(key, message)`` for every problem, touching files only to confirm they
are what the key says). Stages receive these objects resolved and validated; nothing here runs a
computation. The recipe reference (``docs/recipe_reference.md``) is generated from them.
"""
