"""One BLAS thread for the batched fits.

The batched least-squares cores (peak fits, cell refinement, Pawley) solve many small systems;
OpenBLAS spreads each small product over all cores and spends more time synchronising than
computing (10-30x slower than one thread on a 2-16 core machine). The limit is set per call, so
it also covers BLAS libraries loaded after import, and is lifted on return.
"""

from __future__ import annotations

import functools

from threadpoolctl import threadpool_limits


def one_blas_thread(func):
    """Run ``func`` with BLAS limited to one thread (threadpoolctl).

    Parameters
    ----------
    func : callable
        The function to wrap.

    Returns
    -------
    callable
        ``func`` under the limit, with its name and docstring; the limit is lifted when it
        returns or raises.

    Examples
    --------
    >>> import numpy as np
    >>> from threadpoolctl import threadpool_info
    >>> from xpipe.xrd.blas import one_blas_thread
    >>> @one_blas_thread
    ... def blas_threads():
    ...     return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}
    >>> blas_threads(), blas_threads.__name__
    ({1}, 'blas_threads')
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return func(*args, **kwargs)

    return wrapper
