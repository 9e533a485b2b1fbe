"""Matrix tiles: the aihwkit-like pulse-train tile, the transfer (Tiki-Taka) family, weight programming."""
