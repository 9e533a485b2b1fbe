"""Read the run-dependent quantities of the bounds (S_K, W_max, f(W_0) − f*, ...) off a Trajectory."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from convergence._validate import ConfigError


def _device_dict(traj: Any, array: str) -> dict[str, Any]:
    alg = traj.config.get("algorithm", {})
    key = "device" if array == "w" else "device_fast"
    dev = alg.get(key) if isinstance(alg, dict) else None
    if not isinstance(dev, dict) and array == "p":
        dev = alg.get("device") if isinstance(alg, dict) else None
    return dev if isinstance(dev, dict) else {}


def total_sigma(traj: Any) -> float:
    """σ with E‖ε‖² = σ² from the run's noise config (Gaussian: per-coordinate std · √d)."""
    noise = traj.config.get("noise", {})
    name = noise.get("name")
    d = traj.tail_w_mean.shape[1]
    if name == "gaussian":
        return float(noise["sigma"]) * math.sqrt(d)
    if name == "twopoint":
        return float(noise["sigma"])
    if name == "none":
        return 0.0
    return math.nan


def grad_average(traj: Any) -> dict[str, Any]:
    """Per-trial ``measured`` (1/K) Σ ‖∇f(W_k)‖² estimated from the recorded steps, plus mean and stderr over ok
    trials."""
    per_trial = traj.metrics["grad_norm_sq"].mean(axis=0)
    ok = traj.ok
    vals = per_trial[ok]
    mean = float(vals.mean()) if vals.size else math.nan
    se = float(vals.std(ddof=1) / math.sqrt(vals.size)) if vals.size >= 2 else math.nan
    return {"measured": per_trial, "measured_mean": mean, "measured_stderr": se}


def p1_quantities(traj: Any, array: str = "w", **values: Any) -> dict[str, Any]:
    """K, f_gap, S_K, W_max, tau, L, sigma (P1 conventions) and the empirical (1/K) Σ ‖∇f‖².

    ``S_K`` is the running P1 saturation sum at the last step (per trial);
    ``W_max`` = τ · max_k ‖W_k‖∞/τ over the recorded steps (per trial; ``W_max_all``
    is the max over trials too). ``values`` override anything read from the run.
    """
    for name in (f"s_k_{array}", f"sat_{array}"):
        if name not in traj.metrics:
            raise ConfigError(f"trajectory has no metric {name!r} (no analog array {array!r}); "
                              f"recorded: {', '.join(sorted(traj.metrics))}")
    dev = _device_dict(traj, array)
    tau = values.get("tau", dev.get("tau", math.nan))
    obj = traj.config.get("objective", {})
    out: dict[str, Any] = {
        "K": int(traj.config["steps"]),
        "f_gap": traj.metrics["loss_gap"][0].copy(),
        "S_K": traj.metrics[f"s_k_{array}"][-1].copy(),
        "S_K_asgd": traj.metrics[f"s_k_generic_{array}"][-1].copy(),
        "saturation_max": traj.metrics[f"sat_{array}"].max(axis=0),
        "tau": float(tau) if np.ndim(tau) == 0 else tau,
        "L": float(obj.get("L", math.nan)),
        "sigma": total_sigma(traj),
        "D": int(traj.tail_w_mean.shape[1]),
    }
    out["W_max"] = out["saturation_max"] * out["tau"]
    out["W_max_all"] = float(np.max(out["W_max"]))
    out.update(grad_average(traj))
    out.update({k: v for k, v in values.items()})
    return out
