"""Fused and cached forms of the hot paths against the plain forms they replace (bit for bit)."""
from __future__ import annotations

import numpy as np
import pytest

from convergence import rng as rngmod
from convergence.rng import TrialStreams


@pytest.mark.parametrize("trials, block, shape", [(10, 4, (5,)), (1, 64, (7, 3)), (130, 64, (3,)), (3, 1, (0,))])
def test_uniform32_fills_each_block_from_its_own_raw_stream(trials, block, shape):
    """TrialStreams.uniform32 (filled in place per block) = k / 2**32 with k the 32-bit halves of each block's raw
    64-bit draws, rebuilt here from fresh generators of the same (purpose, block) keys."""
    seed, purpose = 5, rngmod.ALGORITHM
    got = TrialStreams(seed, trials, purpose=purpose, block=block).uniform32((trials,) + shape)
    want = []
    for b, start in enumerate(range(0, trials, block)):
        rows = min(block, trials - start)
        size = rows * int(np.prod(shape))
        raw = rngmod.generator(seed, purpose, b).bit_generator.random_raw((size + 1) // 2)
        want.append((raw.view(np.uint32)[:size] * 2.0 ** -32).reshape((rows,) + shape))
    np.testing.assert_array_equal(got, np.concatenate(want))
    assert got.dtype == np.float64 and got.shape == (trials,) + shape
