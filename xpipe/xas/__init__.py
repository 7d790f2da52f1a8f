"""X-ray absorption: readers, XANES normalisation, edges and valence, EXAFS shell fits (Larch)."""
