"""Device physics: response functions, realised devices, pulse application, update modes, periphery."""
