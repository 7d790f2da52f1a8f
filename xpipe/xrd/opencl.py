"""OpenCL for pyFAI: which devices there are, which one a recipe means, and why none can run.

A method whose implementation is ``opencl`` runs on an OpenCL device chosen by
``IntegrationSettings.opencl_device`` ('gpu', 'cpu', 'acc', 'any', or 'platform,device' as
pyFAI numbers them, e.g. '0,1'). :func:`select_opencl` resolves it to a pyFAI
``IntegrationMethod`` bound to one device, or says why there is none (pyopencl not installed,
no OpenCL platform, no device of that type). With ``opencl_fallback`` the integrator then uses
the same splitting and algorithm in cython and logs a warning saying so; without it,
:class:`OpenCLUnavailable` is raised. pyFAI builds the OpenCL CSR engine from its cython CSR
matrix, so both are in memory; the OpenCL engine accumulates in float32 with error-compensated
arithmetic where the cython one accumulates in float64
(https://pyfai.readthedocs.io/en/latest/performance.html), so intensities and Poisson sigmas
agree to about 2e-7 relative, not bit for bit. The 'azimuthal' error model's sigma differs more
(median 0.2-0.5 %, up to 5 % in bins of 30 pixels or more, more in bins of a few pixels): the
OpenCL kernel merges the partial variances of its work-items (``_merge_azimuthal`` in pyFAI's
``ocl_azim_CSR.cl``), the cython engine sums them in one pass.

An OpenCL driver cannot be used in a process forked from one that had already loaded it:
pyFAI enumerates the OpenCL platforms when its integrators are imported, so worker processes
that use OpenCL must be started with 'spawn' (pyFAI's parallelisation notes:
http://edna-site.org/pub/doc/pyFAI/2024.02.0/usage/tutorial/Parallelization/index.html). Such a
forked process is detected here and treated as having no OpenCL device, rather than hanging.

"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass

log = logging.getLogger("xpipe")


class OpenCLUnavailable(RuntimeError):
    """An OpenCL method was asked for, no OpenCL device can run it here, and no fallback is allowed.

    Examples
    --------
    >>> str(OpenCLUnavailable(opencl_unavailable_message("bbox/csr/opencl", "no device")))[:40]
    "'bbox/csr/opencl' asks for OpenCL, which"
    """


# ----------------------------------------------------------------------------- OpenCL devices

#: Device kinds accepted by ``opencl_device`` besides an explicit 'platform,device' pair.
OPENCL_DEVICE_KINDS = ("gpu", "cpu", "acc", "any")

_FORKED_AFTER_OPENCL = False
_FORKED_REASON = "this process was forked from one that had already loaded the OpenCL driver"


def _after_fork_in_child() -> None:
    """Remember that this process was forked after pyFAI had loaded the OpenCL driver."""
    global _FORKED_AFTER_OPENCL
    mod = sys.modules.get("pyFAI.opencl")
    if mod is not None and getattr(mod, "ocl", None) is not None:
        _FORKED_AFTER_OPENCL = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@dataclass(frozen=True)
class OpenCLDevice:
    """One OpenCL device as pyFAI numbers it.

    Parameters
    ----------
    platform_id, device_id : int
        pyFAI's numbers of the platform and of the device on it.
    platform, name : str
        The platform's and the device's names.
    type : str
        ``'GPU'``, ``'CPU'`` or ``'ACC'`` (pyFAI's spelling, upper case).

    Examples
    --------
    >>> OpenCLDevice(0, 1, "NVIDIA CUDA", "H100", "GPU").describe()
    "GPU 'H100' on platform 'NVIDIA CUDA' (0,1)"
    """

    platform_id: int
    device_id: int
    platform: str
    name: str
    type: str  # 'GPU', 'CPU', 'ACC' (pyFAI's spelling, upper case)

    def describe(self) -> str:
        """The device as messages name it: type, name, platform and numbers."""
        return f"{self.type} '{self.name}' on platform '{self.platform}' ({self.platform_id},{self.device_id})"


def parse_opencl_device(spec: str) -> str | tuple[int, int]:
    """The device an ``opencl_device`` setting names.

    Parameters
    ----------
    spec : str
        ``'gpu'``, ``'cpu'``, ``'acc'``, ``'any'`` (case-insensitive) or ``'platform,device'``.

    Returns
    -------
    str or (int, int)
        The kind in lower case, or the (platform, device) numbers.

    Raises
    ------
    ValueError
        For anything else, saying what is expected.

    Examples
    --------
    >>> parse_opencl_device(" GPU "), parse_opencl_device("0,1")
    ('gpu', (0, 1))
    """
    text = str(spec).strip().lower()
    if text in OPENCL_DEVICE_KINDS:
        return text
    parts = [p.strip() for p in text.split(",")]
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    raise ValueError(
        f"expected one of {', '.join(repr(k) for k in OPENCL_DEVICE_KINDS)} or 'platform,device' "
        f"numbers such as '0,1', found {spec!r}"
    )


def opencl_devices() -> tuple[list[OpenCLDevice], str | None]:
    """The OpenCL devices pyFAI can use in this process.

    Returns
    -------
    (list of OpenCLDevice, str or None)
        The devices and None, or an empty list and why there are none (pyopencl not
        installed, no OpenCL platform, a process forked after the driver was loaded, ...).

    Examples
    --------
    >>> devices, why = opencl_devices()
    >>> bool(devices) == (why is None)
    True
    """
    if _FORKED_AFTER_OPENCL:
        return [], (
            f"{_FORKED_REASON}, which cannot be used from a forked copy (OpenCL worker processes "
            "must be started with 'spawn')"
        )
    try:
        import pyopencl  # noqa: F401  (optional: whether it is installed is the question)
    except ImportError as exc:
        if getattr(exc, "name", None) == "pyopencl":
            return [], "pyopencl is not installed"
        return [], f"pyopencl cannot be loaded ({exc})"
    import pyFAI  # heavy (about 1 s with its integrators): imported on first use

    if not getattr(pyFAI, "use_opencl", True):
        return [], "OpenCL is switched off in pyFAI (pyFAI.use_opencl is False)"
    try:
        import pyFAI.integrator.load_engines  # noqa: F401  (registers pyFAI's OpenCL engines)
        from pyFAI.opencl import ocl
    except Exception as exc:  # a broken driver shows up here
        return [], f"pyFAI cannot load its OpenCL support ({type(exc).__name__}: {exc})"
    if ocl is None or not getattr(ocl, "platforms", None):
        return [], "no OpenCL platform is installed (no OpenCL driver for a GPU, or pocl for the CPU, was found)"
    devices = [
        OpenCLDevice(int(p.id), int(d.id), str(p.name), str(d.name), str(d.type).upper())
        for p in ocl.platforms
        for d in p.devices
    ]
    if not devices:
        names = ", ".join(repr(str(p.name)) for p in ocl.platforms)
        return [], f"no OpenCL device on the installed platform(s) {names}"
    return devices, None


_KIND_ORDER = {"GPU": 0, "ACC": 1, "CPU": 2}


def select_opencl(dim: int, split: str, algo: str, device: str = "gpu"):
    """pyFAI's OpenCL ``IntegrationMethod`` for ``split/algo`` on ``device``, or why there is none.

    The method is bound to one device (pyFAI's ``IntegrationMethod.select_method(dim, split,
    algo, 'opencl', target=...)``).

    Parameters
    ----------
    dim : int
        1 for 1D integration, 2 for caking.
    split, algo : str
        Pixel splitting (``bbox``...) and algorithm (``csr``...).
    device : str
        A kind (``'gpu'``, ``'cpu'``, ``'acc'``, ``'any'``: GPUs first) or
        ``'platform,device'``.

    Returns
    -------
    (IntegrationMethod, None) or (None, str)
        The method, or None and the reason there is none.

    Examples
    --------
    >>> method, why = select_opencl(1, "bbox", "csr", "any")
    >>> (method is None) == (why is not None)
    True
    """
    want = parse_opencl_device(device)
    devices, why = opencl_devices()
    if not devices:
        return None, why
    found = ", ".join(d.describe() for d in devices)
    if isinstance(want, tuple):
        matching = [d for d in devices if (d.platform_id, d.device_id) == want]
        if not matching:
            return None, f"no OpenCL device {want[0]},{want[1]} (found: {found})"
    elif want == "any":
        matching = sorted(devices, key=lambda d: _KIND_ORDER.get(d.type, 3))
    else:
        matching = [d for d in devices if d.type == want.upper()]
        if not matching:
            return None, f"no OpenCL device of type {want.upper()} (found: {found})"
    from pyFAI.method_registry import IntegrationMethod  # heavy: imported on first use

    for d in matching:
        hits = IntegrationMethod.select_method(
            dim, split, algo, "opencl", target=(d.platform_id, d.device_id), degradable=False
        )
        if hits:
            return hits[0], None
    return None, f"pyFAI has no OpenCL engine for '{split}/{algo}' in {dim}D"


def opencl_unavailable_message(method: str, reason: str, fallback_key: str = "opencl_fallback") -> str:
    """What to do when ``method`` asks for OpenCL that is not there.

    Parameters
    ----------
    method : str
        The method asked for, ``'split/algo/opencl'``.
    reason : str
        Why there is no OpenCL device (as :func:`select_opencl` says).
    fallback_key : str
        The setting that allows the cython fallback, as the user writes it.

    Returns
    -------
    str
        The reason and the ways out (install, another method, the fallback setting).

    Examples
    --------
    >>> msg = opencl_unavailable_message("bbox/csr/opencl", "pyopencl is not installed")
    >>> msg.split(". ")[0]
    "'bbox/csr/opencl' asks for OpenCL, which is not available here: pyopencl is not installed"
    """
    split, algo = method.split("/")[:2]
    if reason.startswith(_FORKED_REASON):
        first = "Either run with one worker process (--workers 1)"
    else:
        first = ("Either install pyopencl with the gpu extra (pip install 'xpipe[gpu]') and an "
                 "OpenCL driver for the device")
    return (
        f"'{method}' asks for OpenCL, which is not available here: {reason}. {first}, or use "
        f"method '{split}/{algo}/cython', or set {fallback_key}: true to integrate with "
        f"'{split}/{algo}/cython' when OpenCL is missing"
    )


def forked_after_opencl() -> bool:
    """Whether this process was forked from one that had already loaded the OpenCL driver.

    Such a process cannot use OpenCL (the driver hangs), so :func:`select_opencl` treats it as
    having no device.

    Returns
    -------
    bool
        True in a forked child of a process that had imported ``pyFAI.opencl``; False in a
        process started afresh or forked before that.

    Examples
    --------
    >>> forked_after_opencl()  # this process was not forked after OpenCL was loaded
    False
    """
    return _FORKED_AFTER_OPENCL
