"""Prompt protocols: parse their names and run one on one object of one slice.

A protocol turns a ground-truth mask into one or more rounds ("steps") of prompts, decodes each against a
slice's :class:`~samwidgets.models.protocol.Embedding` (encoded once by the caller) and yields the mask of
every step. Names (``PROTOCOL_HELP`` lists them):

=========================  ===============================================================================
``box``                    tight box around the whole label (one step)
``box_jitter``             the same box, each side moved by up to 5 px (seeded; SAM2 medical benchmark)
``point``                  one positive point at the label's distance-transform centre
``mazurowski:K``           Mazurowski et al. mode K = 1..5 (:mod:`samwidgets.prompts.mazurowski`)
``point_iterative:N``      Mazurowski iterative clicks: steps 1..N with 1..N points, all points re-sent,
                           no logit feedback
``microsam_box:N``         micro-sam: box, then N-1 rounds each adding a positive point from the missed
                           region and a negative from the wrongly included region (steps 1..N)
``microsam_point:N``       the same starting from one centre point
``...:N:logits``           (micro-sam only) also feed the previous low-res logits back as ``mask_logits``
``propagate_box_3d``       3D: middle-slice box, LiteMedSAM CVPR24 chaining (volume-level row)
``sam2_video_3d``          3D: middle-slice box, SAM2 video propagation both ways (sam2 models only)
=========================  ===============================================================================

Step numbers start at 1. When an iterative protocol's prediction is already perfect there is nothing to
click: the remaining steps repeat the last prompt and mask without decoding again, so every step has a
row and means per step are over the same objects. Masks of a step with several prompts (Mazurowski mode
4) are OR-ed. Decoding uses ``multimask=False`` (one mask per prompt).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from samwidgets.errors import EvaluationError
from samwidgets.prompts import (
    Prompt,
    box_from_mask,
    first_click,
    mazurowski_prompts,
    next_iterative_prompt,
    next_microsam_prompt,
)
from samwidgets.prompts.geometry import BOX_JITTER_PX

PROTOCOL_HELP = (
    "box, box_jitter, point, mazurowski:1..mazurowski:5, point_iterative:N, microsam_box:N[:logits], "
    "microsam_point:N[:logits], propagate_box_3d, sam2_video_3d"
)
VOLUME_PROTOCOLS = ("propagate_box_3d", "sam2_video_3d")
#: upper bound on N in the iterative protocols (a guard against typos such as point_iterative:900)
MAX_STEPS = 50


@dataclass(frozen=True)
class Protocol:
    """A parsed protocol name. ``kind`` is the name before ':'; ``n`` its number (steps or mode)."""

    name: str
    kind: str
    n: int = 1
    feedback: bool = False

    @property
    def volume(self) -> bool:
        """True for protocols scored on the whole 3D volume (one row, slice = -1)."""
        return self.kind in VOLUME_PROTOCOLS

    @property
    def needs_points(self) -> bool:
        """True when the protocol sends point prompts (box-only models such as MedSAM cannot run it)."""
        return self.kind in ("point", "point_iterative", "microsam_box", "microsam_point") or (
            self.kind == "mazurowski" and self.n in (1, 2)
        )

    @property
    def sam2_only(self) -> bool:
        return self.kind == "sam2_video_3d"

    @property
    def steps(self) -> int:
        return self.n if self.kind in ("point_iterative", "microsam_box", "microsam_point") else 1


def _bad(name: str, why: str) -> EvaluationError:
    return EvaluationError(f"unknown protocol '{name}' ({why}); valid protocols: {PROTOCOL_HELP}", where=name)


def parse_protocol(name: str) -> Protocol:
    """Parse a protocol name; an unknown or malformed one raises EvaluationError listing the valid ones."""
    name = str(name).strip()
    parts = name.split(":")
    kind = parts[0]
    if kind in ("box", "box_jitter", "point") + VOLUME_PROTOCOLS:
        if len(parts) != 1:
            raise _bad(name, f"'{kind}' takes no ':' argument")
        return Protocol(name, kind)
    if kind not in ("mazurowski", "point_iterative", "microsam_box", "microsam_point"):
        raise _bad(name, "no such protocol")
    feedback = False
    if kind.startswith("microsam") and len(parts) == 3 and parts[2] == "logits":
        feedback = True
        parts = parts[:2]
    if len(parts) != 2 or not parts[1].isdigit():
        raise _bad(name, f"'{kind}' needs a number, e.g. {kind}:{5 if kind == 'mazurowski' else 9}")
    n = int(parts[1])
    if kind == "mazurowski" and not 1 <= n <= 5:
        raise _bad(name, "Mazurowski modes are 1..5")
    if kind != "mazurowski" and not 1 <= n <= MAX_STEPS:
        raise _bad(name, f"the number of steps must be 1..{MAX_STEPS}")
    return Protocol(name, kind, n, feedback)


@dataclass
class Step:
    """One decoded round: step number (1-based), the prompts sent (decoded separately, masks OR-ed),
    the resulting (H, W) bool mask, and the seconds spent simulating prompts and decoding."""

    step: int
    prompts: list[Prompt]
    mask: np.ndarray
    seconds: float

    @property
    def n_points(self) -> int:
        return int(sum(p.n_points for p in self.prompts))


def _decode(predictor, embedding, prompts: list[Prompt], mask_logits=None) -> tuple[np.ndarray, np.ndarray | None]:
    """OR of the best mask of each prompt; returns ((H, W) bool, (256, 256) logits of the last prompt)."""
    mask = None
    logits = None
    for p in prompts:
        pred = predictor.decode(embedding, **p.decode_kwargs(), mask_logits=mask_logits, multimask=False)
        k = int(np.argmax(pred.scores))
        m = np.asarray(pred.masks[k], bool)
        logits = np.asarray(pred.logits[k])
        mask = m if mask is None else (mask | m)
    return mask, logits


def run_protocol(
    protocol: Protocol, predictor, embedding, gt: np.ndarray, *, rng: np.random.Generator
) -> Iterator[Step]:
    """Yield the :class:`Step` results of a 2D ``protocol`` for the (H, W) bool label ``gt``.

    ``embedding`` is the slice's embedding from ``predictor.encode`` (reused, never re-encoded here).
    Prompts are xy pixels of the slice. Volume protocols are run by :mod:`samwidgets.evaluation.volume`.
    """
    gt = np.asarray(gt, bool)
    kind = protocol.kind
    t0 = time.perf_counter()
    if kind in ("box", "microsam_box"):
        prompts = [Prompt(box_xyxy=box_from_mask(gt))]
    elif kind == "box_jitter":
        prompts = [Prompt(box_xyxy=box_from_mask(gt, jitter=BOX_JITTER_PX, rng=rng))]
    elif kind in ("point", "point_iterative", "microsam_point"):
        prompts = [first_click(gt, rng=rng)]
    elif kind == "mazurowski":
        prompts = mazurowski_prompts(gt, protocol.n, rng=rng)
    else:
        raise EvaluationError(f"'{protocol.name}' is a volume protocol, not a 2D one", where=protocol.name)
    mask, logits = _decode(predictor, embedding, prompts)
    yield Step(1, prompts, mask, time.perf_counter() - t0)
    if protocol.steps == 1:
        return
    iterate = next_iterative_prompt if kind == "point_iterative" else next_microsam_prompt
    prompt = prompts[0]
    for step in range(2, protocol.steps + 1):
        t0 = time.perf_counter()
        nxt = iterate(prompt, gt, mask, rng=rng)
        if nxt is not None:
            prompt = nxt
            feed = logits if protocol.feedback else None
            mask, logits = _decode(predictor, embedding, [prompt], mask_logits=feed)
        yield Step(step, [prompt], mask, time.perf_counter() - t0)
