"""What the view is shown: the current slice's :class:`~.observable.ViewState`, computed in one place and
published as one update of the session's Observable (a part the Session owns; numpy only, no widgets).

Slices z are 0-based (messages count from 1). Metrics are Dice and IoU of :mod:`samwidgets.metrics` (the
reference of protocols.md, its empty-mask policy) between the shown mask and ground-truth label
``gt_label`` on slice z. A publish is on the click path, so they are computed once per mask (a publish that
keeps the mask, for a message or an embedding status, reuses them) and on the bounding box of mask and
ground truth together: pixels outside it are background in both, so they count in neither score.

The Session hands in its parts and callables: ``current()`` the slice shown, ``replaying()`` whether a log
is being replayed (nothing is published then), ``everything(z)`` slice z's segment-everything results.
"""

from __future__ import annotations

from samwidgets.errors import InputError, SamwidgetsError
from samwidgets.masks.extent import bounds, union_bounds
from samwidgets.widgets.observable import Message, Observable, slice_label


class Publisher:
    """Publishes the view state of the slice shown (see the module docstring); owns ``gt_label``."""

    def __init__(self, view_state: Observable, predictions, embedder, annotator, lock, *, ground_truth: dict,
                 is_3d: bool, n_slices: int, where: str, current, replaying, everything):
        self.view_state, self.predictions, self.embedder = view_state, predictions, embedder
        self.annotator, self.lock, self.ground_truth = annotator, lock, ground_truth
        self.is_3d, self.n_slices, self.where = bool(is_3d), int(n_slices), where
        self.current, self.replaying, self.everything = current, replaying, everything
        self.gt_label: str | None = next(iter(ground_truth), None)
        self._memo: tuple | None = None         # (z, gt_label, mask, metrics) of the last computation
        self._gt_bounds: dict[tuple[str, int], tuple | None] = {}

    def say(self, text: str, *, level: str = "info", until: str = "prompt") -> None:
        """Show a message (see observable.Message for when it goes stale)."""
        self.view_state.update(message=Message(str(text), level, until))

    def set_busy(self, text: str, progress: float = 0.0) -> None:
        """Report a long task's state to the view ("" when done)."""
        self.view_state.update(busy=str(text), progress=float(progress))

    def set_gt_label(self, name: str) -> None:
        """Score against ground-truth label ``name``; InputError when there is no such label."""
        if name not in self.ground_truth:
            raise InputError(f"no ground-truth label '{name}' (labels: {', '.join(self.ground_truth)})",
                             where=self.where)
        self.gt_label = name
        self.publish()

    def publish(self, *, cause: str = "", **extra) -> None:
        """Recompute what the view shows of the current slice and update ``view_state`` once.

        ``cause`` ("prompt" or "slice") clears a message that goes stale with it. Publishes are serialised
        by the session lock (the embedding thread publishes too), and each reads the slice shown at that
        moment, so a slow publish for an earlier slice never overwrites a newer one."""
        if self.replaying():
            return
        with self.lock:
            z = self.current()
            state = self.predictions.state_of(z)
            msg = self.view_state.message
            if cause and msg.text and (msg.until == cause or (cause == "slice" and msg.until == "prompt")):
                extra.setdefault("message", Message())
            try:
                mask = self.predictions.mask(z, state, self.embedder, wait=False)
            except SamwidgetsError as exc:
                mask = None
                extra.setdefault("message", Message(str(exc), "error"))
            self.view_state.update(
                z=z, prompts=state, mask=mask, candidates=self.predictions.scores(z, state),
                selected=self.predictions.selected(z), labels_version=self.annotator.version,
                metrics=self.metrics(z, state, mask), embedding=self.embedder.status(z),
                everything=self.everything(z), **extra)

    def embedded(self, z: int, error) -> None:
        """The Embedder's on_ready(z, error): republish when slice z is the one shown."""
        if z != self.current():
            return
        if error is not None:
            self.publish(message=Message(f"{slice_label(z, self.n_slices)}: {error}", "error", "slice"))
        else:
            self.publish()

    def metrics(self, z: int, state, mask) -> dict[str, float]:
        """{"dice", "iou"} of bool (H, W) ``mask`` on slice z against label ``gt_label``; {} without ground
        truth, without a mask, or before any prompt (``state`` empty)."""
        label = self.gt_label
        if not self.ground_truth or label is None or mask is None or state.empty:
            return {}
        memo = self._memo
        if memo is not None and memo[0] == z and memo[1] == label and memo[2] is mask:
            return dict(memo[3])
        from samwidgets.metrics import dice, iou

        gt = self.ground_truth[label]
        gt = gt[z] if self.is_3d else gt
        key = (label, z)
        if key not in self._gt_bounds:
            self._gt_bounds[key] = bounds(gt)
        box = union_bounds(bounds(mask), self._gt_bounds[key])
        # both empty (box None): the full planes give the empty-mask policy's answer
        window = None if box is None else (slice(box[0], box[1]), slice(box[2], box[3]))
        p, g = (mask, gt) if window is None else (mask[window], gt[window])
        result = {"dice": float(dice(p, g)), "iou": float(iou(p, g))}
        self._memo = (z, label, mask, result)
        return dict(result)
