"""X-ray photoelectron spectroscopy: readers, lineshapes, backgrounds, fits."""
