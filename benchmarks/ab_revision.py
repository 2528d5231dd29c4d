"""LiteMedSAM encoder and decoder of this tree against an earlier revision, interleaved in one process.

    .venv/bin/python benchmarks/ab_revision.py [--against a92a306] [--rounds 12] [--backends onnx torch]

The package at ``--against`` is taken from git (``git archive``) into a temporary folder and imported
under another name, so both predictors run in the same process on the same slice, alternating which goes
first each round: machine speed changes over minutes (on the shared 2-core host: +-30 %) hit both alike.
Prints best and median per part and the new/old ratios (issue 11 asks for no regression).
"""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SLICE = "ct_lesion_3d/deeplesion-medsam2/CT_Lesion_000001_02_01_008-023.npz"


def import_revision(rev: str, folder: Path):
    """The samwidgets package of git revision ``rev`` as module ``samwidgets_ab`` (imports rewritten)."""
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "samwidgets"], check=True,
                         capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        t.extractall(folder, filter="data")
    (folder / "samwidgets").rename(folder / "samwidgets_ab")
    for py in (folder / "samwidgets_ab").rglob("*.py"):
        text = py.read_text()
        text = re.sub(r"\bsamwidgets(?=[.\s])", "samwidgets_ab", text)
        py.write_text(text)
    sys.path.insert(0, str(folder))
    import samwidgets_ab.models.litemedsam as lm
    from samwidgets_ab.models.registry import get_spec

    return lm.build, get_spec


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", default="a92a306")
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--backends", nargs="+", default=["onnx", "torch"])
    args = ap.parse_args(argv)

    from samwidgets.manifest.build import default_shared_data
    from samwidgets.models.litemedsam import build
    from samwidgets.models.registry import get_spec

    image = np.load(default_shared_data() / SLICE)["imgs"]
    image = image[image.shape[0] // 2]
    box = np.array([200, 220, 300, 320])
    with tempfile.TemporaryDirectory() as tmp:
        old_build, old_spec = import_revision(args.against, Path(tmp))
        for backend in args.backends:
            old = old_build(old_spec("litemedsam"), device="cpu", backend=backend)
            new = build(get_spec("litemedsam"), device="cpu", backend=backend)
            embs = {"old": old.encode(image), "new": new.encode(image)}
            for name, p in (("old", old), ("new", new)):
                p.decode(embs[name], box_xyxy=box)
            times: dict[str, list[float]] = {k: [] for k in ("enc old", "enc new", "dec old", "dec new")}
            for r in range(args.rounds):
                order = (("old", old), ("new", new)) if r % 2 == 0 else (("new", new), ("old", old))
                for name, p in order:
                    t0 = time.perf_counter()
                    p.encode(image + np.uint8(r % 2 + 1))      # a new slice each time: no cache hit
                    times["enc " + name].append(time.perf_counter() - t0)
                    for _ in range(10):
                        t0 = time.perf_counter()
                        p.decode(embs[name], box_xyxy=box)
                        times["dec " + name].append(time.perf_counter() - t0)
            print(f"LiteMedSAM backend {backend}: this tree vs {args.against}, {args.rounds} rounds interleaved")
            for k, v in times.items():
                a = np.asarray(v) * 1000
                print(f"  {k:8s} best {a.min():8.1f} ms   median {np.median(a):8.1f} ms   (n={len(a)})")
            for part, what in (("enc", "encoder"), ("dec", "decoder, 1 box")):
                med = np.median(times[part + " new"]) / np.median(times[part + " old"])
                best = min(times[part + " new"]) / min(times[part + " old"])
                print(f"  {what}: new/old median {med:.3f}, best {best:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
