r"""An aihwkit configuration translated to the toolkit (docs/tutorials/aihwkit-users.md).

The aihwkit side, for reference (not run here; the toolkit does not need aihwkit)::

    device = SoftBoundsReferenceDevice(dw_min=0.001, w_max=0.6, w_min=-0.6, up_down=0.0,
                                       dw_min_dtod=0.3, up_down_dtod=0.01, dw_min_std=0.3,
                                       reference_mean=0.0, reference_std=0.05,
                                       subtract_symmetry_point=True)
    rpu = SingleRPUConfig(device=device, forward=PresetIOParameters(),
                          update=UpdateParameters(desired_bl=31, update_bl_management=True,
                                                  update_management=True))
    rpu_tt = UnitCellRPUConfig(device=ChoppedTransferCompound(
        unit_cell_devices=[device, device], fast_lr=0.1, transfer_lr=1.0, in_chop_prob=0.1,
        transfer_every=1, units_in_mbatch=False))
"""
from __future__ import annotations

import numpy as np

import convergence as cv
from convergence.physics.periphery import IOParameters
from convergence.physics.reference_device import SoftBoundsReference
from convergence.tile.analog_tile import AnalogTile, UpdateParameters
from convergence.tile.transfer_family import chopped_ttv2

# The device: the same class and field names. Every spread defaults to 0 here (aihwkit's do not).
device = SoftBoundsReference(dw_min=0.001, w_max=0.6, w_min=-0.6, up_down=0.0,
                             dw_min_dtod=0.3, up_down_dtod=0.01, dw_min_std=0.3,
                             reference_mean=0.0, reference_std=0.05, subtract_symmetry_point=True)

# aihwkit's PresetIOParameters, spelled out: IOParameters() alone is a perfect MVM.
preset_io = IOParameters(inp_res=1 / 126, out_res=1 / 510, inp_bound=1.0, out_bound=20.0, out_noise=0.1,
                         noise_management="abs_max", bound_management="iterative")

# SingleRPUConfig + AnalogSGD: a batch of 8 independent tiles (leading trials axis) of 4 x 6 weights.
tile = AnalogTile(device, (8, 4, 6), update=UpdateParameters(desired_bl=31, update_bl_management=True,
                                                              update_management=True),
                  forward_io=preset_io, rng=np.random.default_rng(0))
rng = np.random.default_rng(1)
x, d = rng.normal(size=(8, 16, 6)), rng.normal(size=(8, 16, 4))      # inputs and output errors of 16 samples
y = tile.forward(x)                                                   # (8, 16, 4), through the periphery
tile.update(x, d, lr=0.01)                                            # pulse trains, sample by sample

# ChoppedTransferCompound: c-TTv2 on both arrays with the same expected-mode physics. The toolkit's
# algorithms take toolkit devices; SoftBounds(0.6) is this device without its spreads and noise.
alg = chopped_ttv2(0.1, cv.SoftBounds(0.6), in_chop_prob=0.1, transfer_lr=1.0, transfer_every=1,
                   granularity=0.001)
state = alg.init(np.zeros((8, 4, 6)))
for _ in range(20):
    state = alg.step(state, x, d, rng)

if __name__ == "__main__":
    print("tile output", y.shape, "weights", tile.weights.shape)
    print("c-TTv2 arrays", [name for name, _, _ in alg.analog(state)], "weights", alg.query(state).shape)
