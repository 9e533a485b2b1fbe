"""Study driver: run the transfer study at a scale, write results.npz, RESULTS.md (table + claims) and the figure.

Usage (from the repository root): ``python paper_repro/transfer_swin/run.py [quick|default|long|paper] [--out DIR]``
(default out: ``build/transfer_swin``; nothing here is committed). ``convergence transfer`` prints the table only.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _recipe():
    spec = importlib.util.spec_from_file_location("transfer_swin_study", ROOT / "figures" / "transfer_swin_study.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("scale", nargs="?", default="default", choices=["quick", "default", "long", "paper"])
    ap.add_argument("--out", default=str(ROOT / "build" / "transfer_swin"))
    ap.add_argument("--from-npz", default=None, help="skip computing; report an existing results.npz")
    args = ap.parse_args(argv)
    rec = _recipe()
    from convergence.swin import runner as R
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = rec.SCALES[args.scale]
    t0 = time.perf_counter()
    if args.from_npz:
        with np.load(args.from_npz, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    else:
        data = rec.compute(cfg, np.random.SeedSequence(rec.SEED))
        np.savez(out / "results.npz", **data)
    sec = time.perf_counter() - t0
    claims = rec.claims(data, cfg)
    lines = [f"# Transfer study, scale {args.scale} ({sec:.0f} s)", "",
             f"data: {data['data'][0]} -> {data['data'][1]}; source test accuracy {float(data['source_acc']):.3f}", ""]
    lines += R.summarize(data) + ["", "## Claims (mean ± 2 s.e. over seeds, paired)", ""]
    if not claims:   # an empty section would read as "nothing to check"
        seeds = {s: rec.SCALES[s]["seeds"] for s in rec.SCALES}
        lines.append(f"None at scale {args.scale}: {seeds[args.scale]} seed(s) give no uncertainty, so no verdict "
                     f"(the claims need 2 or more; seeds per scale: {seeds}).")
    for c in claims:
        lines.append(f"- **{c['id']}** ({c['verdict']}): {c['statement']} — prediction {c['prediction']}; "
                     f"measured {json.dumps(c['measured'])} ± {json.dumps(c['uncertainty'])}")
    (out / "RESULTS.md").write_text("\n".join(lines) + "\n")
    rec.plot(data, cfg).savefig(out / "transfer_swin_study.png", dpi=120)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
