"""Scaled-down NumPy Swin transformer (manual backward) and the analog transfer-learning study.

Modules: :mod:`~convergence.swin.model` (functional micro Swin: ``init``/``forward``/``backward``),
:mod:`~convergence.swin.analog` (analog tiles with the toolkit's TT-family algorithms as weight stores),
:mod:`~convergence.swin.study` (data, cached digital pretraining, fine-tuning runs).
"""
from __future__ import annotations

from convergence.swin.model import SwinConfig, backward, forward, init, loss_and_grads, weight_grads
from convergence.swin.analog import AnalogSpec, ALGORITHMS

__all__ = ["SwinConfig", "init", "forward", "backward", "loss_and_grads", "weight_grads", "AnalogSpec", "ALGORITHMS"]
