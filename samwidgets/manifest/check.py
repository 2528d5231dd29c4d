"""Reading one case of a manifest the way ``manifest validate`` does: every problem, not only the first.

:func:`check_case` reads a :class:`~samwidgets.manifest.load.Case`'s image, each of its label files and its
field of view, and reports each problem on its own line naming the case and the file, with the reader's
or decoder's reason (an unlisted colour, for instance, comes with the ``max_distance`` that accepts it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from samwidgets.errors import SamwidgetsError

if TYPE_CHECKING:  # pragma: no cover
    from samwidgets.manifest.load import Case


def _reason(exc: BaseException, what: str, path) -> str:
    if isinstance(exc, SamwidgetsError):
        return f"{exc.reason} ({what} {path})"
    return f"cannot read {what} {path}: {type(exc).__name__}: {exc}"  # a validator reports, it never crashes


def check_case(case: Case) -> tuple[list[str], dict[str, Any]]:
    """Read one case's image, every label file and the field of view; (problems, facts).

    Every problem is reported, not only the first: an image that cannot be read still has its label files
    decoded on their own, and each label file is checked separately. Facts (when there is no problem):
    dims, shape, labels (names found).
    """
    from samwidgets.io import load_label_array
    from samwidgets.io.labels import decode_label

    head = f"case '{case.case_id}'"
    facts: dict[str, Any] = {}
    problems: list[str] = []
    try:
        image = case.load_image()
        facts.update(dims=len(image.spacing), shape=tuple(image.array.shape))
    except Exception as exc:  # noqa: BLE001
        image = None
        problems.append(f"{head}: {_reason(exc, 'image', case.image)}")
    files = case.all_label_files
    decoded = []  # each file decoded once: checked here, then merged for the label names
    for label_file in files:
        try:
            if image is None:  # no shapes to compare: the file must still decode
                decode_label(load_label_array(label_file.path, key=label_file.key), label_file.rule,
                             where=case.key, allow_empty=len(files) > 1)
            else:
                decoded.append(case.decode_label_file(label_file, image, allow_empty=len(files) > 1))
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{head}: {_reason(exc, 'label', label_file.path)}")
    fov = None
    if case.fov is not None and image is not None:
        try:
            fov = case.load_fov(image=image)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{head}: {_reason(exc, 'field of view', case.fov)}")
    if problems or image is None:
        return problems, facts
    if not files:
        facts["labels"] = []
        return problems, facts
    try:
        facts["labels"] = sorted(case.merge_labels(decoded, fov))
    except Exception as exc:  # noqa: BLE001 - e.g. every file empty, or nothing inside the field of view
        problems.append(f"{head}: {_reason(exc, 'label', case.label)}")
    return problems, facts
