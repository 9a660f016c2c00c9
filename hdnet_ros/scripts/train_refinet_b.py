#!/usr/bin/env python3
"""Train RefiNet's skeleton module (B) on lifted synthetic skeletons; see
hdnet_ros/training/refinet_b.py. The documented run takes under two minutes on a CPU:

    python3 scripts/train_refinet_b.py --out refinet_b.pt
    hdnet-ros evaluate --synthetic --refiner refinet_b.pt --settings default
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("refinet_b.pt"), help="checkpoint to write")
    parser.add_argument("--frames", type=int, default=1500, help="generated frames (about 2.3 people each)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--linear-size", type=int, default=1024, help="hidden width (RefiNet: 1024)")
    parser.add_argument("--seed", type=int, default=1234, help="data seed (keep it off the evaluation's seed 0)")
    parser.add_argument("--size", default="320x240", help="frame size WxH of the generated data")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))

    import torch
    from hdnet_ros.training.refinet_b import run_training

    torch.set_num_threads(max(torch.get_num_threads(), 1))
    stats = run_training(args.frames, args.epochs, args.seed, args.out, args.linear_size, width, height)
    print(f"wrote {args.out}: " + ", ".join(f"{k} {v:.4g}" for k, v in stats.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
