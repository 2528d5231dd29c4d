"""Prompt protocols: one registry table, parsing their names, and running one on one object of one slice.

A protocol turns a ground-truth mask into one or more rounds ("steps") of prompts, decodes each against a
slice's :class:`~samwidgets.models.protocol.Embedding` (encoded once by the caller) and yields the mask of
every step. Every protocol is one row of :data:`PROTOCOLS` (a :class:`ProtocolSpec`: name, parameter,
prompt kind, 2D/3D, the reference it follows, and the callables that simulate its prompts); the runner,
``samwidgets evaluate --help``, the analysis (:func:`samwidgets.analysis.results.prompt_kind`) and this
table read it (:func:`protocol_table` prints it; a test checks this docstring lists every row):

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
``cvpr25``                 CVPR 2025 challenge: box, then 5 clicks at the largest error's centre (6 steps);
                           on a 3D image one volume-level row per step (:mod:`samwidgets.evaluation.cvpr25`)
``cvpr25_points``          the same without the box: 5 clicks (5 steps)
``noc:N``                  RITM clicker, N clicks (20 in the field) for NoC@85/90 (:mod:`samwidgets.evaluation.noc`)
=========================  ===============================================================================

Video protocols (:mod:`samwidgets.evaluation.video`; volume-level rows on a 3D image or clip, whose frames
are the slices): ``video_chain_box_first`` / ``video_chain_box_middle`` (box on the first / middle frame
with the object, LiteMedSAM box chaining forward and backward), ``video_sam2_box_first`` /
``video_sam2_box_middle`` / ``video_sam2_clicks_first`` / ``video_sam2_clicks_middle`` (SAM2 video
propagation from that frame's box or one centre click; sam2 models only). On a 2D image they are the
``box`` / ``point`` protocols.

Step numbers start at 1. When an iterative protocol's prediction is already perfect there is nothing to
click: the remaining steps repeat the last prompt and mask without decoding again, so every step has a
row and means per step are over the same objects. Masks of a step with several prompts (Mazurowski mode
4) are OR-ed. Decoding uses ``multimask=False`` (one mask per prompt).

To add a protocol, add a row to :data:`PROTOCOLS` (with a ``driver`` when its steps are not "first
prompts, then one :func:`next_prompt` per step"); nothing else compares protocol names.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping

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

#: upper bound on N in the iterative protocols (a guard against typos such as point_iterative:900)
MAX_STEPS = 50


def _box(gt: np.ndarray, n: int, rng: np.random.Generator) -> list[Prompt]:
    return [Prompt(box_xyxy=box_from_mask(gt))]


def _box_jitter(gt: np.ndarray, n: int, rng: np.random.Generator) -> list[Prompt]:
    return [Prompt(box_xyxy=box_from_mask(gt, jitter=BOX_JITTER_PX, rng=rng))]


def _centre_click(gt: np.ndarray, n: int, rng: np.random.Generator) -> list[Prompt]:
    return [first_click(gt, rng=rng)]


def _mazurowski(gt: np.ndarray, n: int, rng: np.random.Generator) -> list[Prompt]:
    return mazurowski_prompts(gt, n, rng=rng)


def _cvpr25_box(protocol, predictor, embedding, gt, *, rng):
    from samwidgets.evaluation.cvpr25 import run_cvpr25

    return run_cvpr25(predictor, embedding, gt, box=True, rng=rng)


def _cvpr25_points(protocol, predictor, embedding, gt, *, rng):
    from samwidgets.evaluation.cvpr25 import run_cvpr25

    return run_cvpr25(predictor, embedding, gt, box=False, rng=rng)


def _cvpr25_box_volume(protocol, predictor, volume, gt, *, rng):
    from samwidgets.evaluation.cvpr25 import run_cvpr25_volume

    return run_cvpr25_volume(predictor, volume, gt, box=True, rng=rng)


def _cvpr25_points_volume(protocol, predictor, volume, gt, *, rng):
    from samwidgets.evaluation.cvpr25 import run_cvpr25_volume

    return run_cvpr25_volume(predictor, volume, gt, box=False, rng=rng)


def _noc(protocol, predictor, embedding, gt, *, rng):
    from samwidgets.evaluation.noc import run_noc

    return run_noc(predictor, embedding, gt, max_clicks=protocol.n)


def _video_rows() -> list["ProtocolSpec"]:
    """The rows of the video protocols (their table is :data:`samwidgets.evaluation.video.VIDEO_PROTOCOLS`)."""
    from samwidgets.evaluation.video import VIDEO_PROTOCOLS, volume_driver

    return [ProtocolSpec(v.name, v.summary, v.reference, "box" if v.prompt == "box" else "point",
                         requires="sam2" if v.method == "sam2" else "",
                         first_prompts=_box if v.prompt == "box" else _centre_click, volume_driver=volume_driver(v))
            for v in VIDEO_PROTOCOLS.values()]


def _chain_3d(predictor, volume, *, box3d, z_mid, prompt, videos):
    from samwidgets.evaluation.volume import propagate_chain

    return propagate_chain(predictor, volume, box3d=box3d, z_mid=z_mid, prompt=prompt, videos=videos)


def _sam2_video_3d(predictor, volume, *, box3d, z_mid, prompt, videos):
    from samwidgets.evaluation.volume import propagate_sam2_video

    return propagate_sam2_video(predictor, volume, box3d=box3d, z_mid=z_mid, prompt=prompt, videos=videos)


@dataclass(frozen=True)
class ProtocolSpec:
    """One row of the protocol registry.

    name:          the protocol's name (the part before ':').
    summary:       one line saying what it sends (CLI help, docs).
    reference:     the published protocol it follows (described in ``docs/protocols.md``).
    prompt:        the kind of its first prompt, "box" or "point"; a mapping {N: kind} when it depends on N.
    dims:          2: scored per slice (one row per slice and step); 3: scored on the whole volume (slice -1).
    parameter:     "" (no ':' argument), "N" (number of steps) or "K" (a mode number).
    n_range:       the allowed values of N / K.
    example_n:     the number shown in "needs a number, e.g. name:N".
    logits_option: ``name:N:logits`` feeds the previous low-res logits back.
    adds_points:   later steps add clicks (so the protocol sends points whatever its first prompt).
    requires:      "" or "sam2" (runs on sam2 models only).
    first_prompts: (gt (H, W) bool, n, rng) -> the prompts of step 1 (xy pixels, boxes xyxy).
    next_prompt:   (prompt, gt, mask, rng) -> the prompt of the next step or None (2D iterative protocols).
    run_volume:    (predictor, volume, *, box3d, z_mid, prompt, videos) -> (z, y, x) bool mask (3D protocols).
    driver:        (protocol, predictor, embedding, gt, *, rng) -> Iterator[Step], for a 2D protocol whose
                   steps do not fit ``first_prompts`` / ``next_prompt``.
    volume_driver: (protocol, predictor, volume, gt, *, rng) -> Iterator[(Step, prompt-log extras)]: on a 3D
                   image a 2D protocol with one runs on the whole volume instead of per slice, one
                   volume-level row (slice -1) per step (the CVPR 2025 protocol, a 3D reference).
    """

    name: str
    summary: str
    reference: str
    prompt: str | Mapping[int, str]
    dims: int = 2
    parameter: str = ""
    n_range: tuple[int, int] = (1, 1)
    example_n: int = 9
    logits_option: bool = False
    adds_points: bool = False
    requires: str = ""
    first_prompts: Callable | None = None
    next_prompt: Callable | None = None
    run_volume: Callable | None = None
    driver: Callable | None = None
    volume_driver: Callable | None = None

    def first_kind(self, n: int = 1) -> str:
        """The kind ("box" / "point") of the first prompt of ``name:n``."""
        return self.prompt if isinstance(self.prompt, str) else self.prompt[int(n)]

    def sends(self, n: int = 1) -> frozenset[str]:
        """The prompt kinds ``name:n`` sends over all its steps: a subset of {"box", "point"}."""
        return frozenset({self.first_kind(n)} | ({"point"} if self.adds_points else set()))

    @property
    def usage(self) -> str:
        """How the name is written: ``box``, ``point_iterative:N``, ``mazurowski:1..mazurowski:5``, ..."""
        if not self.parameter:
            return self.name
        if self.parameter == "K":
            return f"{self.name}:{self.n_range[0]}..{self.name}:{self.n_range[1]}"
        return f"{self.name}:{self.parameter}" + ("[:logits]" if self.logits_option else "")


_MAZUROWSKI = "Mazurowski et al. 2023"
_MICROSAM = "micro-sam iterative prompting"

#: the protocol registry: one row per protocol, in the order the help lists them
PROTOCOLS: dict[str, ProtocolSpec] = {spec.name: spec for spec in (
    ProtocolSpec("box", "tight box around the whole label (one step)",
                 f"{_MAZUROWSKI} mode 5; MedSAM / CVPR24 box", "box", first_prompts=_box),
    ProtocolSpec("box_jitter", "the same box, each side moved by up to 5 px (seeded)",
                 "SAM2 medical benchmark box jitter", "box",
                 first_prompts=_box_jitter),
    ProtocolSpec("point", "one positive point at the label's distance-transform centre",
                 f"{_MAZUROWSKI}, first iterative point", "point", first_prompts=_centre_click),
    ProtocolSpec("mazurowski", "Mazurowski et al. mode K = 1..5", _MAZUROWSKI,
                 {1: "point", 2: "point", 3: "box", 4: "box", 5: "box"}, parameter="K", n_range=(1, 5),
                 example_n=5, first_prompts=_mazurowski),
    ProtocolSpec("point_iterative", "iterative clicks: steps 1..N with 1..N points, all re-sent, no logits",
                 f"{_MAZUROWSKI}, iterative", "point", parameter="N", n_range=(1, MAX_STEPS), adds_points=True,
                 first_prompts=_centre_click, next_prompt=next_iterative_prompt),
    ProtocolSpec("microsam_box", "box, then N-1 rounds adding a positive and a negative point",
                 _MICROSAM, "box", parameter="N", n_range=(1, MAX_STEPS), logits_option=True, adds_points=True,
                 first_prompts=_box, next_prompt=next_microsam_prompt),
    ProtocolSpec("microsam_point", "centre point, then N-1 rounds adding a positive and a negative point",
                 _MICROSAM, "point", parameter="N", n_range=(1, MAX_STEPS), logits_option=True,
                 adds_points=True, first_prompts=_centre_click, next_prompt=next_microsam_prompt),
    ProtocolSpec("propagate_box_3d", "middle-slice box, chained slice by slice (volume-level row)",
                 "LiteMedSAM CVPR24 3D inference", "box", dims=3,
                 run_volume=_chain_3d),
    ProtocolSpec("sam2_video_3d", "middle-slice box, SAM2 video propagation both ways (sam2 models only)",
                 "Ma et al. 2024, SAM2 in medicine", "box", dims=3, requires="sam2",
                 run_volume=_sam2_video_3d),
    ProtocolSpec("cvpr25", "challenge box, then 5 clicks at the largest error's centre (volume rows on 3D)",
                 "CVPR 2025 interactive 3D challenge, CVPR25_iter_eval.py", "box", adds_points=True,
                 driver=_cvpr25_box, volume_driver=_cvpr25_box_volume),
    ProtocolSpec("cvpr25_points", "5 clicks at the largest error's centre, no box (volume rows on 3D)",
                 "CVPR 2025 interactive 3D challenge, CVPR25_iter_eval.py", "point",
                 driver=_cvpr25_points, volume_driver=_cvpr25_points_volume),
    ProtocolSpec("noc", "RITM clicker: N clicks (20 in the field), for NoC@85 / NoC@90",
                 "RITM compute_noc_metric and Clicker", "point", parameter="N", n_range=(1, MAX_STEPS),
                 example_n=20, driver=_noc),
    *_video_rows(),
)}

PROTOCOL_HELP = ", ".join(spec.usage for spec in PROTOCOLS.values())
VOLUME_PROTOCOLS = tuple(name for name, spec in PROTOCOLS.items() if spec.dims == 3)


def protocol_table() -> str:
    """The registry as a markdown table: usage, 2D/3D, first prompt, what it sends, reference."""
    lines = ["| protocol | dims | first prompt | sends | reference |", "|---|---|---|---|---|"]
    for spec in PROTOCOLS.values():
        first = spec.prompt if isinstance(spec.prompt, str) else ", ".join(
            f"{k}: {v}" for k, v in sorted(spec.prompt.items()))
        sends = "box + point" if spec.adds_points and first != "point" else first
        lines.append(f"| `{spec.usage}` | {spec.dims}D | {first} | {sends} | {spec.reference} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Protocol:
    """A parsed protocol name. ``kind`` is the name before ':' (a key of :data:`PROTOCOLS`); ``n`` its
    number (steps or mode); ``feedback`` the ``:logits`` option."""

    name: str
    kind: str
    n: int = 1
    feedback: bool = False

    @property
    def spec(self) -> ProtocolSpec:
        """This protocol's row of the registry."""
        return PROTOCOLS[self.kind]

    @property
    def volume(self) -> bool:
        """True for protocols scored on the whole 3D volume (one row, slice = -1)."""
        return self.spec.dims == 3

    def on_volume(self, is_3d: bool) -> bool:
        """Whether this protocol is scored on the whole volume for an image that is (``is_3d``) or is not
        3D: the 3D protocols, and 2D protocols with a ``volume_driver`` on 3D images."""
        return self.volume or (bool(is_3d) and self.spec.volume_driver is not None)

    @property
    def prompt_kinds(self) -> frozenset[str]:
        """The prompt kinds this protocol sends over all its steps ("box", "point")."""
        return self.spec.sends(self.n)

    @property
    def needs_points(self) -> bool:
        """True when the protocol sends point prompts (box-only models such as MedSAM cannot run it)."""
        return "point" in self.prompt_kinds

    @property
    def sam2_only(self) -> bool:
        return self.spec.requires == "sam2"

    @property
    def steps(self) -> int:
        return self.n if self.spec.parameter == "N" else 1


def _bad(name: str, why: str) -> EvaluationError:
    return EvaluationError(f"unknown protocol '{name}' ({why}); valid protocols: {PROTOCOL_HELP}", where=name)


def parse_protocol(name: str) -> Protocol:
    """Parse a protocol name; an unknown or malformed one raises EvaluationError listing the valid ones."""
    name = str(name).strip()
    parts = name.split(":")
    kind = parts[0]
    spec = PROTOCOLS.get(kind)
    if spec is None:
        raise _bad(name, "no such protocol")
    if not spec.parameter:
        if len(parts) != 1:
            raise _bad(name, f"'{kind}' takes no ':' argument")
        return Protocol(name, kind)
    feedback = False
    if spec.logits_option and len(parts) == 3 and parts[2] == "logits":
        feedback = True
        parts = parts[:2]
    if len(parts) != 2 or not parts[1].isdigit():
        raise _bad(name, f"'{kind}' needs a number, e.g. {kind}:{spec.example_n}")
    n = int(parts[1])
    lo, hi = spec.n_range
    if not lo <= n <= hi:
        raise _bad(name, f"{kind} modes are {lo}..{hi}" if spec.parameter == "K"
                   else f"the number of steps must be {lo}..{hi}")
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
    spec = protocol.spec
    if spec.dims != 2:
        raise EvaluationError(f"'{protocol.name}' is a volume protocol, not a 2D one", where=protocol.name)
    gt = np.asarray(gt, bool)
    if spec.driver is not None:
        yield from spec.driver(protocol, predictor, embedding, gt, rng=rng)
        return
    t0 = time.perf_counter()
    prompts = spec.first_prompts(gt, protocol.n, rng)
    mask, logits = _decode(predictor, embedding, prompts)
    yield Step(1, prompts, mask, time.perf_counter() - t0)
    if protocol.steps == 1:
        return
    prompt = prompts[0]
    for step in range(2, protocol.steps + 1):
        t0 = time.perf_counter()
        nxt = spec.next_prompt(prompt, gt, mask, rng=rng)
        if nxt is not None:
            prompt = nxt
            feed = logits if protocol.feedback else None
            mask, logits = _decode(predictor, embedding, [prompt], mask_logits=feed)
        yield Step(step, [prompt], mask, time.perf_counter() - t0)
