"""The papers' symbols, shared by all bound modules (declared positive/real so simplification is valid).

Keyword names of the numeric evaluators are these symbols' names:

========== ==========================================================================
f_gap      f(W_0) − f*  (initial optimality gap)
sigma      noise level σ. P1/P2 Assumption 3: E‖ε‖² ≤ σ² (TOTAL variance over the D
           coordinates). ``Gaussian(s)`` in :mod:`convergence.sim.noise` has per-coordinate std
           ``s``, i.e. σ = s·√D. The derived scalar predictions (D3, D4, D13) use the
           per-coordinate std (D = 1 there).
L          smoothness constant
K          number of iterations
tau        soft-bounds dynamic-range radius τ
W_max      bound on ‖W_k‖∞ (P1 Assumption 4)
S_K        P1 saturation sum (1/K) Σ (‖W_k‖²∞/τ²)/(1 − ‖W_k‖²∞/τ²)
S_K_asgd   P2 S_K^ASGD = (1/K) Σ ‖G(W_k)/√F(W_k)‖²∞
S_K_rl     P2 S_K^RL = (1/K) Σ ‖G(P_k)/√F(P_k)‖²∞ (residual array P)
F_max      sup ‖F(W)‖∞ (P2 Lemma 2)
D          number of weights
c          P1 Assumption 5 constant (E|g + ε_i| ≥ cσ)
alpha      step size α (P1: transfer rate for Tiki-Taka)
P_max      bound on ‖P_k‖∞ of the auxiliary / residual array (P1 Lemma 7, P2 Table 2)
M_min      lower bound on the saturation vector M = q₊ ⊙ q₋ over the run (P2 Theorems 3, 6)
========== ==========================================================================
"""
from __future__ import annotations

import sympy as sp

f_gap = sp.Symbol("f_gap", positive=True)
sigma = sp.Symbol("sigma", positive=True)
L = sp.Symbol("L", positive=True)
K = sp.Symbol("K", positive=True)
tau = sp.Symbol("tau", positive=True)
W_max = sp.Symbol("W_max", nonnegative=True)
S_K = sp.Symbol("S_K", nonnegative=True)
S_K_asgd = sp.Symbol("S_K_asgd", nonnegative=True)
S_K_rl = sp.Symbol("S_K_rl", nonnegative=True)
F_max = sp.Symbol("F_max", positive=True)
D = sp.Symbol("D", positive=True)
c = sp.Symbol("c", positive=True)
alpha = sp.Symbol("alpha", positive=True)
beta = sp.Symbol("beta", positive=True)
gamma = sp.Symbol("gamma", nonnegative=True)
w = sp.Symbol("w", real=True)
w_s = sp.Symbol("w_s", real=True)
w_star = sp.Symbol("w_star", real=True)
w_sym = sp.Symbol("w_sym", real=True)
Sigma = sp.Symbol("Sigma", nonnegative=True)
dR = sp.Symbol("dR", positive=True)
abs_g = sp.Symbol("abs_g", positive=True)
c_lin = sp.Symbol("c_lin", real=True)
lr = sp.Symbol("lr", positive=True)
g = sp.Symbol("g", real=True)


def abs_gaussian_mean(mu: sp.Expr, s: sp.Expr) -> sp.Expr:
    r"""D1 (docs/theory/derivations.md) in sympy: E|μ + sZ| = s√(2/π) e^{−μ²/(2s²)} + μ erf(μ/(s√2))."""
    return s * sp.sqrt(2 / sp.pi) * sp.exp(-mu**2 / (2 * s**2)) + mu * sp.erf(mu / (s * sp.sqrt(2)))

M_min = sp.Symbol("M_min", positive=True)
P_max = sp.Symbol("P_max", nonnegative=True)
