"""Video propagation on the real breast-ultrasound clip: per-frame Dice and time, LiteMedSAM box chaining
(and SAM2 when its weights are present).

    python benchmarks/video.py [--clip ../shared/data/ultrasound_video/ciocr-breast-us]
                               [--protocol video_chain_box_middle] [--sam2 sam2_t] [--device cpu]

Prints the Dice of every annotated frame against its distance from the prompted frame, the frames where
tracking is lost (Dice < 0.5), and encode / total seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CLIP = REPO.parent / "shared" / "data" / "ultrasound_video" / "ciocr-breast-us"


def _report(name: str, res, seconds: float) -> None:
    from samwidgets.evaluation.video import lost_frames

    r = res.rows
    print(f"{name}: start frame {res.start}, mean Dice {r['dice'].mean():.4f} over {len(r)} frames, {seconds:.1f} s")
    print("  frame:    " + " ".join(f"{int(f):>4d}" for f in r["frame"]))
    print("  distance: " + " ".join(f"{int(d):>4d}" for d in r["distance"]))
    print("  Dice:     " + " ".join(f"{d:4.2f}" for d in r["dice"]))
    for _, row in lost_frames(r).iterrows():
        first = "none" if row["first_lost"] < 0 else f"frame {row['first_lost']} (distance {row['distance']})"
        print(f"  {row['direction']}: first lost {first}; {row['n_lost']} of {row['n_frames']} frames lost")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", default=str(CLIP))
    ap.add_argument("--protocol", action="append", default=None, help="chain protocols (repeatable)")
    ap.add_argument("--sam2", default=None, help="SAM2 registry name whose weights are fetched (optional)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)

    import samwidgets.models as models
    from samwidgets.evaluation.video import propagate_clip
    from samwidgets.io.video import load_clip

    clip = load_clip(args.clip)
    print(f"clip {clip.name}: {clip.n_frames} frames {clip.image.array.shape[1:]}, {len(clip.labels)} annotated")
    from samwidgets.models.cache import EmbeddingCache

    # in memory: the second protocol reuses the first one's frame embeddings
    pred = models.load("litemedsam", device=args.device, cache=EmbeddingCache(disk=False))
    for protocol in args.protocol or ["video_chain_box_middle", "video_chain_box_first"]:
        t0 = time.perf_counter()
        before = pred.stats["encoder_calls"]
        res = propagate_clip(clip, protocol, pred, rng=np.random.default_rng(0))
        _report(f"litemedsam {protocol} ({pred.stats['encoder_calls'] - before} encodes)", res, time.perf_counter() - t0)
    if args.sam2:
        from samwidgets.models.sam2_video import build_video

        prop = build_video(args.sam2, device=args.device)
        for protocol in ("video_sam2_box_middle", "video_sam2_clicks_middle"):
            t0 = time.perf_counter()
            res = propagate_clip(clip, protocol, prop, rng=np.random.default_rng(0))
            _report(f"{args.sam2} {protocol}", res, time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
