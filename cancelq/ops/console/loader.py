"""Flower's templates, with the console's tabs in its navbar and the console's part of its task page.

Flower's own files are read and two lines are spliced in where their markers are (a Flower without the
marker shows its page unchanged; the console's tests look for the tabs and the task page's button).
"""

from __future__ import annotations

import os

import tornado.template

NAV_MARKER = '<ul class="app-nav navbar-nav">'
TASK_MARKER = '<div class="detail-actions">'
OWN_PREFIX = "cancelq_"


class ConsoleLoader(tornado.template.Loader):
    def __init__(self, flower_root: str, own_root: str) -> None:
        super().__init__(flower_root)
        self.own_root = os.path.abspath(own_root)

    def _create_template(self, name: str) -> tornado.template.Template:
        root = self.own_root if name.startswith(OWN_PREFIX) else self.root
        with open(os.path.join(root, name), encoding="utf-8") as handle:
            text = handle.read()
        if name == "navbar.html":
            text = splice_after(text, NAV_MARKER, '{% module Template("cancelq_tabs.html", active_tab=active_tab) %}',
                                before="</ul>")
        elif name == "task.html":
            text = splice_after(text, TASK_MARKER, '{% module Template("cancelq_task.html", task=task) %}')
        return tornado.template.Template(text, name=name, loader=self)


def splice_after(text: str, marker: str, insert: str, *, before: str | None = None) -> str:
    """``insert`` after ``marker`` (or, with ``before``, at the first ``before`` following the marker)."""
    at = text.find(marker)
    if at < 0:
        return text
    at += len(marker)
    if before is not None:
        end = text.find(before, at)
        at = end if end >= 0 else at
    return text[:at] + insert + text[at:]
