"""The stacked [C; C^2] matrix of the block engine, against scipy's own stacking."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from xpipe.xrd.blockcsr import _stack_squares


def test_stack_squares_matches_vstack_with_empty_columns():
    rng = np.random.default_rng(3)
    dense = rng.random((7, 40)) * (rng.random((7, 40)) < 0.3)
    dense[:, [0, 5, 6, 39]] = 0.0  # empty columns at the start, inside and at the end
    csc = sp.csc_matrix(dense)
    stacked = _stack_squares(csc)
    assert stacked.shape == (14, 40)
    np.testing.assert_array_equal(stacked.toarray(), np.vstack([dense, dense * dense]))
    for j in range(40):  # each column: its C entries, then their squares
        rows = stacked.indices[stacked.indptr[j]:stacked.indptr[j + 1]]
        n = rows.size // 2
        assert np.all(rows[:n] < 7) and np.all(rows[n:] >= 7)


def test_stack_squares_of_an_empty_matrix():
    stacked = _stack_squares(sp.csc_matrix((3, 4)))
    assert stacked.shape == (6, 4) and stacked.nnz == 0
