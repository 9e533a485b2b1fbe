"""Torch-free NumPy networks whose weight layers can live on analog devices.

Modules: :mod:`~convergence.nn.layers` (layers with explicit backward), :mod:`~convergence.nn.losses`,
:mod:`~convergence.nn.optim` (weight optimizers: digital SGD, Analog SGD, Tiki-Taka, toolkit
algorithms), :mod:`~convergence.nn.model` (Sequential, the papers' FCN and CNN),
:mod:`~convergence.nn.training`, :mod:`~convergence.nn.schedules`, :mod:`~convergence.nn.checkpoint`,
:mod:`~convergence.experiments.networks` (the P1/P2 MNIST settings used by the figure recipes),
:mod:`~convergence.nn.adapters` (the aihwkit-faithful tile and the TT-v2 family as weight optimizers).
"""
from __future__ import annotations

from convergence.nn.layers import GELU, Conv2d, Flatten, LayerNorm, Linear, LogSoftmax, MaxPool2d, ReLU, Sigmoid, Tanh
from convergence.nn.losses import accuracy, cross_entropy, log_softmax, nll_loss
from convergence.nn.model import Sequential, fcn, lenet
from convergence.nn.optim import AlgorithmOptimizer, AnalogSGD, DigitalSGD, TikiTakaV1, WeightOptimizer
from convergence.nn.schedules import Constant, StepLR
from convergence.nn.training import evaluate, evaluate_samples, train, train_step
from convergence.nn.checkpoint import load_checkpoint, save_checkpoint
from convergence.nn.adapters import AlgorithmLayer, TileOptimizer, TransferOptimizer

__all__ = ["GELU", "Conv2d", "Flatten", "LayerNorm", "Linear", "LogSoftmax", "MaxPool2d", "ReLU", "Sigmoid", "Tanh",
           "accuracy", "cross_entropy", "log_softmax", "nll_loss", "Sequential", "fcn", "lenet",
           "AlgorithmOptimizer", "AnalogSGD", "DigitalSGD", "TikiTakaV1", "WeightOptimizer", "Constant", "StepLR",
           "evaluate", "evaluate_samples", "train", "train_step", "load_checkpoint",
           "save_checkpoint", "AlgorithmLayer", "TileOptimizer", "TransferOptimizer"]
