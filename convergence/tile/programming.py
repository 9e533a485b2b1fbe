r"""The weight-programming experiment of Rasch et al. (Nat. Commun. 2024, arXiv 2303.04721) Figs. 3–4.

Task ("programming a matrix to a target under a stochastic gradient"): a tile W of shape
(out, in) is trained on

.. math:: f(W) = \tfrac12\,\mathbb E_x \|(W - W^\ast) x\|^2,\qquad x \sim \mathcal N(0, I),

one sample per update, with output error ``d = (W − W*) x + σ_d ξ`` (ξ ~ N(0, I); the
σ_d term keeps a gradient-noise floor, so a symmetric-point offset causes a bias). For
the transfer algorithms W is the slow array C; the gradient is taken at C (γ = 0). This
is our construction: the paper's exact "constant gradient" settings are not recoverable
(docs/theory/algorithms.md#chopped-ttv2; docs/theory/transfer-study.md#transfer-claims), so the recipes reproduce the
*qualitative* claims only.

Devices: soft bounds with τ = 1 (range [−1, 1], ``n_states = 2/δ``) realised per element by
:func:`convergence.physics.reference_device.offset_softbounds`: up/down asymmetry spread ``σ_±``
(``up_down_dtod``) with the resulting symmetric-point shift compensated (aihwkit ``subtract_symmetry_point=True``),
plus a symmetric-point offset ``o_i = skew + σ_r ξ`` (aihwkit's reference offset
``reference_mean``/``reference_std`` with opposite sign).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from convergence.sim import driver

Array = NDArray[np.float64]

__all__ = ["programming_run"]


def programming_run(alg: Any, w_target: Array, steps: int, rng: Any, *, noise_std: float = 0.0,
                    record_every: int = 100, track: int | None = 0, progress: bool | None = False) -> dict[str, Array]:
    """Run ``alg`` (a :class:`~convergence.tile.transfer_family.TransferAlgorithm`) from W = 0 on the programming task.

    Step k draws x ~ N(0, I) (trials, 1, in), then (if ``noise_std``) ξ, and applies
    ``alg.step`` with ``d = (W − W*) x + noise_std ξ``, all from ``rng`` in this order; the loop is
    :func:`convergence.sim.driver.run` (``progress``: its progress bar). Records are taken after 0,
    ``record_every``, 2·``record_every``, … updates and after the last one.

    Returns ``steps`` (recorded update counts, starting at 0), ``rms`` (records, trials): the RMS
    over elements of ``W − W*`` (W = ``alg.query``), ``w_final`` and, if ``track`` is a trial
    index, ``w_track`` (records, out·in) of that trial.
    """
    trials, n_out, n_in = w_target.shape
    rec_steps, rms, track_w = [], [], []

    def record(k: int, state: Any) -> None:
        w = alg.query(state)
        rec_steps.append(k)
        rms.append(np.sqrt(np.mean((w - w_target) ** 2, axis=(1, 2))))
        if track is not None:
            track_w.append(w[track].ravel().copy())

    def step(k: int, state: Any) -> Any:
        x = rng.standard_normal((trials, 1, n_in))
        d = np.matmul(x, (alg.query(state) - w_target).transpose(0, 2, 1))
        if noise_std:
            d += noise_std * rng.standard_normal((trials, 1, n_out))
        return alg.step(state, x, d, rng)

    record_at = set(range(0, steps + 1, record_every)) | {steps}
    state = driver.run(alg.init(np.zeros_like(w_target)), step, steps, observe=record, observe_at=record_at,
                progress=progress, unit="update")
    out = {"steps": np.asarray(rec_steps, dtype=float), "rms": np.stack(rms), "w_final": alg.query(state)}
    if track is not None:
        out["w_track"] = np.stack(track_w)
    return out
