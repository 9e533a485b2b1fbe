"""analog-convergence: check the convergence theory of analog in-memory training against simulation.

Public API (one re-export per line)::

    from convergence import SoftBounds, analog_sgd, Quadratic, Gaussian

    from convergence.sim import simulate

Example: Analog SGD on a noisy quadratic stalls below the minimiser w* = 0.5, at the point the
mean-field theory predicts (docs/theory/derivations.md#d3-asgd-fixed-point):

>>> import convergence as cv
>>> traj = cv.simulate(cv.analog_sgd(0.02, cv.SoftBounds(tau=1.0)), cv.Quadratic(d=1, w_star=0.5),
...                    cv.Gaussian(sigma=0.5), w0=0.0, steps=2000, trials=200, seed=0)
>>> w_s, floor = cv.meanfield.asgd_quadratic_fixed_point(L=1.0, w_star=0.5, sigma=0.5, tau=1.0)
>>> round(float(traj.w_mean()[0]), 2), round(float(w_s), 2)
(0.35, 0.35)
"""
from __future__ import annotations

__version__ = "0.1.0"

from convergence._validate import ConfigError
from convergence.theory import meanfield
from convergence.sim.algorithms import Algorithm
from convergence.sim.algorithms import SGDState
from convergence.sim.algorithms import TikiTakaState
from convergence.sim.algorithms import analog_sgd
from convergence.sim.algorithms import digital_sgd
from convergence.sim.algorithms import tiki_taka
from convergence.theory.battery import check
from convergence.physics.devices import CLin
from convergence.physics.devices import ConstantStep
from convergence.physics.devices import Device
from convergence.physics.devices import DeviceArray
from convergence.physics.devices import Exponential
from convergence.physics.devices import Ideal
from convergence.physics.devices import LinearStep
from convergence.physics.devices import Power
from convergence.physics.devices import SoftBounds
from convergence.physics.devices import Variation
from convergence.physics.devices import realize
from convergence.physics.devices import saturation
from convergence.physics.devices import tau_sweep
from convergence.sim.noise import Gaussian
from convergence.sim.noise import Minibatch
from convergence.sim.noise import NoNoise
from convergence.sim.noise import TwoPoint
from convergence.sim.objectives import LeastSquares
from convergence.sim.objectives import LogisticNonconvex
from convergence.sim.objectives import Quadratic
from convergence.sim.objectives import TwoLayerRegression
from convergence.rng import TrialStreams
from convergence.sim.simulate import Trajectory
from convergence.sim.simulate import simulate
from convergence.physics.pulses import Expected
from convergence.physics.pulses import Pulsed
from convergence.physics.pulses import analog_update

# The public API: every name re-exported above (also what `from convergence import *` binds).
__all__ = [
    "ConfigError",
    "meanfield",
    "Algorithm",
    "SGDState",
    "TikiTakaState",
    "analog_sgd",
    "digital_sgd",
    "tiki_taka",
    "check",
    "CLin",
    "ConstantStep",
    "Device",
    "DeviceArray",
    "Exponential",
    "Ideal",
    "LinearStep",
    "Power",
    "SoftBounds",
    "Variation",
    "realize",
    "saturation",
    "tau_sweep",
    "Gaussian",
    "Minibatch",
    "NoNoise",
    "TwoPoint",
    "LeastSquares",
    "LogisticNonconvex",
    "Quadratic",
    "TwoLayerRegression",
    "TrialStreams",
    "Trajectory",
    "simulate",
    "Expected",
    "Pulsed",
    "analog_update",
]
