"""A griffe extension for the API pages: tiffzarr's docstrings as Markdown.

tiffzarr's numpydoc docstrings use Sphinx roles (``:class:`TiffStore```) and
doctests outside ``Examples`` sections (module docstrings); Markdown shows the
first as text and reads the second as quotes. This extension, loaded by
mkdocstrings (``extensions`` in ``mkdocs.yml``), rewrites the docstrings of the
loaded package in memory only, never the files:

- a role becomes a cross-reference to the object it names, resolved in the
  docstring's scope; an object not on the site stays plain code (autorefs'
  ``optional`` references never warn);
- a doctest after a section other than ``Examples`` opens an ``Examples`` section; one
  before any section is fenced as a ``pycon`` block.
"""

from __future__ import annotations

import html
import re
from typing import Any

from griffe import Extension, Module, Object

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj):`(~?)([\w.]+)(\(\))?`")
SECTION = re.compile(r"^\s*-{3,}\s*$")


def _target(obj: Object, name: str) -> str:
    """The full path ``name`` stands for in ``obj``'s scope (``name`` when unknown)."""
    if name.startswith("tiffzarr."):
        return name
    head, _, rest = name.partition(".")
    try:
        found = obj.resolve(head)
    except Exception:  # griffe raises several kinds; an unknown name stays as written
        return name
    return f"{found}.{rest}" if rest else found


def _roles(obj: Object, text: str) -> str:
    def link(match: re.Match[str]) -> str:
        short, name, call = match.groups()
        shown = (name.rsplit(".", 1)[-1] if short else name) + (call or "")
        target = html.escape(_target(obj, name), quote=True)
        return (
            f'<autoref identifier="{target}" optional><code>{html.escape(shown)}</code></autoref>'
        )

    return ROLE.sub(link, text)


def _fence_doctests(text: str) -> str:
    """Make each doctest outside an ``Examples`` section Markdown griffe renders as code.

    One that follows another section (``Returns``...) opens an ``Examples`` section; one
    in the text before any section is fenced (``>>>`` to the next blank line).
    """
    lines = text.splitlines()
    out: list[str] = []
    section: str | None = None
    fence: str | None = None  # the indentation of the open fence
    for i, line in enumerate(lines):
        if i + 1 < len(lines) and SECTION.match(lines[i + 1]) and line.strip():
            section = line.strip()
        if fence is not None and not line.strip():
            out.append(fence + "```")
            fence = None
        doctest = line.lstrip().startswith(">>>")
        if doctest and section not in (None, "Examples") and not line[:1].isspace():
            out += ["Examples", "--------"]
            section = "Examples"
        elif doctest and section != "Examples" and fence is None:
            fence = line[: len(line) - len(line.lstrip())]
            out.append(fence + "```pycon")
        out.append(line)
    if fence is not None:
        out.append(fence + "```")
    return "\n".join(out)


def _walk(obj: Object, seen: set[str]) -> None:
    if obj.path in seen:
        return
    seen.add(obj.path)
    if obj.docstring is not None:
        obj.docstring.value = _roles(obj, _fence_doctests(obj.docstring.value))
    for member in obj.members.values():
        if not member.is_alias:
            _walk(member, seen)  # type: ignore[arg-type]


class MarkdownDocstrings(Extension):
    """Rewrite every docstring of a loaded package (see the module docstring)."""

    def on_package(self, *, pkg: Module, **kwargs: Any) -> None:
        _walk(pkg, set())
