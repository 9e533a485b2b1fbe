"""analog-convergence: check the convergence theory of analog in-memory training against simulation.

Public API (one re-export per line)::

    from convergence import SoftBounds, analog_sgd, Quadratic, Gaussian, simulate
"""
from __future__ import annotations

__version__ = "0.1.0"

from ._validate import ConfigError
from . import meanfield
from .algorithms import Algorithm
from .algorithms import SGDState
from .algorithms import TikiTakaState
from .algorithms import analog_sgd
from .algorithms import digital_sgd
from .algorithms import tiki_taka
from .battery import check
from .devices import CLin
from .devices import ConstantStep
from .devices import Device
from .devices import DeviceArray
from .devices import Exponential
from .devices import Ideal
from .devices import LinearStep
from .devices import Power
from .devices import SoftBounds
from .devices import Variation
from .devices import realize
from .devices import saturation
from .devices import tau_sweep
from .noise import Gaussian
from .noise import Minibatch
from .noise import NoNoise
from .noise import TwoPoint
from .objectives import LeastSquares
from .objectives import LogisticNonconvex
from .objectives import Quadratic
from .objectives import TwoLayerRegression
from .rng import TrialStreams
from .simulate import Trajectory
from .simulate import simulate
from .update import Expected
from .update import Pulsed
from .update import analog_update
