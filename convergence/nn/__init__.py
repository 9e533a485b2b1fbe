"""Torch-free NumPy networks whose weight layers can live on analog devices.

Modules: :mod:`~convergence.nn.layers` (layers with explicit backward), :mod:`~convergence.nn.losses`,
:mod:`~convergence.nn.optim` (weight optimizers: digital SGD, Analog SGD, Tiki-Taka, toolkit
algorithms), :mod:`~convergence.nn.model` (Sequential, the papers' FCN and CNN),
:mod:`~convergence.nn.training`, :mod:`~convergence.nn.schedules`, :mod:`~convergence.nn.checkpoint`,
:mod:`~convergence.nn.experiments` (the P1/P2 MNIST settings used by the figure recipes),
:mod:`~convergence.nn.adapters` (the aihwkit-faithful tile and the TT-v2 family as weight optimizers).
"""
from __future__ import annotations

from .layers import GELU, Conv2d, Flatten, LayerNorm, Linear, LogSoftmax, MaxPool2d, ReLU, Sigmoid, Tanh
from .losses import accuracy, cross_entropy, log_softmax, nll_loss
from .model import Sequential, fcn, lenet
from .optim import AlgorithmOptimizer, AnalogSGD, DigitalSGD, TikiTakaV1, WeightOptimizer
from .schedules import Constant, StepLR
from .training import evaluate, evaluate_samples, train, train_step
from .checkpoint import load_checkpoint, save_checkpoint
from .adapters import TileOptimizer, TransferOptimizer

__all__ = ["GELU", "Conv2d", "Flatten", "LayerNorm", "Linear", "LogSoftmax", "MaxPool2d", "ReLU", "Sigmoid", "Tanh",
           "accuracy", "cross_entropy", "log_softmax", "nll_loss", "Sequential", "fcn", "lenet",
           "AlgorithmOptimizer", "AnalogSGD", "DigitalSGD", "TikiTakaV1", "WeightOptimizer", "Constant", "StepLR",
           "evaluate", "evaluate_samples", "train", "train_step", "load_checkpoint", "save_checkpoint", "TileOptimizer", "TransferOptimizer"]
