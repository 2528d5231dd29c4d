"""Protocol parsing and one-object runs against the fake predictor."""

from __future__ import annotations

import numpy as np
import pytest

from samwidgets.errors import EvaluationError
from samwidgets.evaluation import parse_protocol, run_protocol
from samwidgets.prompts import distance_map

from .fakes import FakePredictor


def test_parse_names():
    assert parse_protocol("point_iterative:9").steps == 9
    assert parse_protocol("mazurowski:4").n == 4 and not parse_protocol("mazurowski:4").needs_points
    assert parse_protocol("mazurowski:1").needs_points
    p = parse_protocol("microsam_box:8:logits")
    assert p.feedback and p.steps == 8 and p.kind == "microsam_box"
    assert parse_protocol("propagate_box_3d").volume
    assert parse_protocol("sam2_video_3d").sam2_only


@pytest.mark.parametrize("bad", ["boxx", "mazurowski:6", "point_iterative", "point_iterative:x", "box:3",
                                 "point_iterative:0", "point_iterative:9:logits"])
def test_unknown_protocol_lists_valid_ones(bad):
    with pytest.raises(EvaluationError) as err:
        parse_protocol(bad)
    assert "valid protocols" in str(err.value) and "point_iterative:N" in str(err.value)


def gt_mask():
    gt = np.zeros((60, 60), bool)
    gt[10:40, 10:50] = True
    return gt


def test_iterative_steps_add_one_point_in_error_region():
    pred = FakePredictor()
    gt = gt_mask()
    emb = pred.encode(np.zeros((60, 60), np.uint8))
    steps = list(run_protocol(parse_protocol("point_iterative:5"), pred, emb, gt, rng=np.random.default_rng(0)))
    assert [s.step for s in steps] == [1, 2, 3, 4, 5]
    assert [s.n_points for s in steps] == [1, 2, 3, 4, 5]
    first = steps[0].prompts[0].points_xy[0]
    dist = distance_map(gt)
    assert dist[int(first[1]), int(first[0])] == dist.max()
    for prev, cur in zip(steps, steps[1:]):
        x, y = cur.prompts[0].points_xy[-1].astype(int)
        label = cur.prompts[0].point_labels[-1]
        assert (gt ^ prev.mask)[y, x]
        assert label == int(gt[y, x])
        assert np.array_equal(cur.prompts[0].points_xy[:-1], prev.prompts[0].points_xy)
    assert pred.stats["encoder_calls"] == 1


def test_perfect_prediction_repeats_without_decoding():
    pred = FakePredictor()
    yy, xx = np.mgrid[:31, :31]
    gt = (xx - 15) ** 2 + (yy - 15) ** 2 <= 36  # exactly the fake's disk around the centre click
    emb = pred.encode(np.zeros((31, 31), np.uint8))
    steps = list(run_protocol(parse_protocol("point_iterative:3"), pred, emb, gt, rng=np.random.default_rng(0)))
    assert np.array_equal(steps[0].mask, gt)
    assert [s.step for s in steps] == [1, 2, 3] and [s.n_points for s in steps] == [1, 1, 1]
    assert pred.stats["decoder_calls"] == 1


def test_mazurowski_box_per_component_or_ed():
    pred = FakePredictor()
    gt = np.zeros((50, 50), bool)
    gt[5:20, 5:20] = True
    gt[30:45, 30:45] = True
    emb = pred.encode(np.zeros((50, 50), np.uint8))
    (step,) = run_protocol(parse_protocol("mazurowski:4"), pred, emb, gt, rng=np.random.default_rng(0))
    assert len(step.prompts) == 2 and step.mask[10, 10] and step.mask[37, 37] and not step.mask[25, 25]
    assert pred.stats["decoder_calls"] == 2


def test_registry_is_the_one_list_of_protocols():
    """The module docstring, the CLI help and the analysis all read the protocol registry."""
    from samwidgets.analysis.results import prompt_kind
    from samwidgets.cli.evaluate import protocol_epilog
    from samwidgets.evaluation import protocols

    epilog = protocol_epilog()
    for spec in protocols.PROTOCOLS.values():
        example = spec.name if not spec.parameter else f"{spec.name}:{spec.n_range[0]}"
        parsed = parse_protocol(example)
        assert parsed.spec is spec and parsed.volume == (spec.dims == 3)
        assert f"``{spec.name}" in protocols.__doc__, f"{spec.name} missing from the protocols docstring"
        assert spec.usage in protocols.PROTOCOL_HELP and spec.usage in epilog and spec.reference in epilog
        assert prompt_kind(example) == ("propagation" if spec.dims == 3 else spec.first_kind(parsed.n))
        assert parsed.prompt_kinds <= {"box", "point"} and parsed.needs_points == ("point" in parsed.prompt_kinds)
        assert f"`{spec.usage}`" in protocols.protocol_table()
    assert set(protocols.VOLUME_PROTOCOLS) == {"propagate_box_3d", "sam2_video_3d"}


def test_a_new_row_is_a_new_protocol(monkeypatch):
    """Adding a row to the registry is all it takes: parsing and running read it."""
    from samwidgets.evaluation import protocols
    from samwidgets.prompts import Prompt, box_from_mask

    def half_box(gt, n, rng):
        x0, y0, x1, y1 = box_from_mask(gt)
        return [Prompt(box_xyxy=np.array([x0, y0, (x0 + x1) / 2, y1], float))]

    spec = protocols.ProtocolSpec("half_box", "left half of the box", "none (test)", "box", first_prompts=half_box)
    monkeypatch.setitem(protocols.PROTOCOLS, "half_box", spec)
    pred = FakePredictor()
    gt = gt_mask()
    (step,) = run_protocol(parse_protocol("half_box"), pred, pred.encode(np.zeros((60, 60), np.uint8)), gt,
                           rng=np.random.default_rng(0))
    assert step.mask[20, 15] and not step.mask[20, 45]
    with pytest.raises(EvaluationError, match="takes no"):
        parse_protocol("half_box:2")
