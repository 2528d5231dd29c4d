"""``samwidgets manifest init FOLDER``: write a commented manifest for a folder of images and labels.

:func:`plan_folder` (:mod:`.plan`) does the scanning and guessing; this module writes the plan as YAML
text with a comment on every guessed line (``CONFIRM`` where the user must check it: modality, anatomy,
licence, citation, label names) and returns what to tell the user. The file is written atomically and
never over an existing file unless ``force``.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

from samwidgets.atomic import write_text_atomic
from samwidgets.errors import ManifestError
from samwidgets.manifest.build import SHARED_DATA_VAR, default_shared_data
from samwidgets.manifest.plan import Group, LabelSet, Plan, plan_folder

__all__ = ["init_manifest", "render_manifest", "plan_folder"]


def _q(value) -> str:
    """A YAML scalar: JSON strings and numbers are valid YAML flow scalars."""
    return json.dumps(value)


def _flow(value) -> str:
    """A YAML flow value (mapping, list or scalar); mapping keys that are ints stay bare."""
    if isinstance(value, dict):
        items = [f"{k if isinstance(k, int) else _q(str(k))}: {_flow(v)}" for k, v in value.items()]
        return "{" + ", ".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return _q(value)


def _rule_lines(rule: dict, indent: str) -> list[str]:
    lines = []
    for key, value in rule.items():
        if key == "labels" and isinstance(value, dict):
            lines.append(f"{indent}labels:                # CONFIRM: label names")
            lines += [f"{indent}  {k if isinstance(k, int) else _q(str(k))}: {_flow(v)}" for k, v in value.items()]
        elif key == "name":
            lines.append(f"{indent}name: {_q(value)}   # CONFIRM: label name")
        else:
            lines.append(f"{indent}{key}: {_flow(value)}")
    return lines


def _root_text(root: Path, out: Path) -> str:
    shared = default_shared_data().resolve()
    try:
        return "${" + SHARED_DATA_VAR + "}/" + root.relative_to(shared).as_posix()
    except ValueError:
        pass
    try:
        return Path(os.path.relpath(root, out.parent.resolve())).as_posix()
    except ValueError:  # another drive
        return root.as_posix()


def _label_entry(s: LabelSet, value: str, indent: str, *, several: bool) -> list[str]:
    if not several:
        return [f"{indent}label: {_q(value)}"]
    lines = [f"{indent}  - file: {_q(value)}          # {s.encoding.summary}", f"{indent}    rule:"]
    return lines + _rule_lines(s.encoding.rule, indent + "      ")


def _group_lines(group: Group, shared_rule: bool) -> list[str]:
    labels = [s for s in group.sets if s.role == "label"]
    fov = [s for s in group.sets if s.role == "fov"]
    several = len(labels) > 1

    def entry(value_of, indent: str) -> list[str]:
        lines = []
        if several:
            lines.append(f"{indent}label:                  # several label files, each with its rule")
        for s in labels:
            lines += _label_entry(s, value_of(s), indent, several=several)
        if not several and not shared_rule:
            lines.append(f"{indent}label_rule:   # {labels[0].encoding.summary}")
            lines += _rule_lines(labels[0].encoding.rule, indent + "  ")
        for s in fov:
            lines.append(f"{indent}fov: {_q(value_of(s))}      # field of view: {s.encoding.summary}; CONFIRM")
        return lines

    if group.glob is not None:
        lines = [f"  - image: {_q(group.glob)}          # {len(group.images)} image(s)"]
        lines += entry(lambda s: s.template, "    ")
        if group.id_template != "{stem}":
            lines.append(f"    id: {_q(group.id_template)}")
        if group.exclude:
            lines.append(f"    exclude: {_flow(group.exclude)}   # images without labels, or of other groups")
        return lines
    lines = []
    for image in group.images:
        files = dict(zip([id(s) for s in group.sets], group.labels_of[image]))
        lines.append(f"  - id: {_q(group.case_ids[image])}")
        lines.append(f"    image: {_q(image.as_posix())}")
        lines += entry(lambda s: files[id(s)].as_posix(), "    ")
    return lines


def render_manifest(plan: Plan, out: Path) -> str:
    """The commented YAML text of ``plan`` for a manifest saved at ``out``."""
    g = plan.guess
    label_sets = [s for grp in plan.groups for s in grp.sets if s.role == "label"]
    rules = {json.dumps(s.encoding.rule, sort_keys=True, default=str) for s in label_sets}
    shared_rule = len(rules) == 1 and all(len([s for s in grp.sets if s.role == "label"]) == 1
                                          for grp in plan.groups)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# Written by `samwidgets manifest init` on {when} from {plan.root}",
        "# Lines marked CONFIRM are guesses: check them, then run `samwidgets manifest validate` on this file.",
        "# Format: data_manifests/README.md.",
        f"dataset: {_q(plan.dataset)}",
        f"modality: {_q(g.modality)}   # {'guessed from ' + g.why}{'' if g.sure else ': a weak guess'}; CONFIRM",
        'anatomy: "unknown"   # CONFIRM: what the images show',
        'licence: "unknown"   # CONFIRM: the licence of the data (look in the dataset\'s README)',
        'citation: "unknown"   # CONFIRM: how the data must be cited',
        f"root: {_q(_root_text(plan.root, out))}",
        f"preset: {_q(g.preset)}   # intensity preset guessed from the pixels (see data_manifests/README.md)",
    ]
    if plan.dims is not None:
        lines.append(f"dims: {plan.dims}")
    if shared_rule:
        s = label_sets[0]
        lines.append(f"label:   # {s.encoding.summary}")
        lines += _rule_lines(s.encoding.rule, "  ")
    globbed = [grp for grp in plan.groups if grp.glob is not None]
    explicit = [grp for grp in plan.groups if grp.glob is None]
    if globbed:
        lines.append("cases_glob:")
        for grp in globbed:
            lines += _group_lines(grp, shared_rule)
    if explicit:
        lines.append("cases:   # listed one by one: no glob and file-name template reproduces these pairs")
        for grp in explicit:
            lines += _group_lines(grp, shared_rule)
    return "\n".join(lines) + "\n"


def confirm_lines(plan: Plan) -> list[str]:
    """What ``manifest init`` guessed and what the user must confirm, one line each."""
    g = plan.guess
    out = [f"modality {g.modality} ({g.why}{'' if g.sure else ', a weak guess'}), preset {g.preset}"]
    for grp in plan.groups:
        where = grp.glob or f"{len(grp.images)} case(s) listed one by one"
        out.append(f"{where}: {len(grp.images)} image(s)")
        for s in grp.sets:
            role = "field of view" if s.role == "fov" else "labels"
            out.append(f"  {role} {s.template}: {s.encoding.summary}")
    out += plan.notes
    confirm = {"modality", "anatomy", "licence", "citation"}
    for s in (s for grp in plan.groups for s in grp.sets):
        confirm.update(s.encoding.confirm or ["label names"])
    out.append("confirm: " + "; ".join(sorted(confirm)))
    return out


def init_manifest(folder: str | Path, out: str | Path | None = None, *, force: bool = False) -> tuple[Path, Plan]:
    """Scan ``folder`` and write its manifest to ``out`` (default ``./<dataset>.yaml``); returns (path, plan).

    Raises ManifestError when ``out`` exists (unless ``force``) or the folder holds no labelled image.
    """
    plan = plan_folder(folder)
    path = Path(out).expanduser() if out is not None else Path.cwd() / f"{plan.dataset}.yaml"
    if path.exists() and not force:
        raise ManifestError("file exists; choose another --out or pass --force", where=path)
    write_text_atomic(path, render_manifest(plan, path))
    return path, plan
