"""A template's own failure said as the template's fault, in one line naming its file and line.

A template is code: what its code raises (ZeroDivisionError, TypeError, an
undefined name, MemoryError past the memory bound, RenderTimeExceeded past the
CPU bound) is the fault of the template (a broken fork), never of the user's
answers. No Copier here: render.py tells which exceptions are Copier's own and
which file Copier was rendering.
"""

from __future__ import annotations

import tempfile

import jinja2

from generator import bounds
from generator.errors import RenderBoundError, RenderError

FORK_HINT = "fix the template (or report it to whoever maintains it); nothing was written"


def jinja_problem(err: jinja2.TemplateError) -> str:
    """A Jinja error in one line, with the template file and line where Jinja knows them."""
    message = (err.message or type(err).__name__).splitlines()[0]
    if isinstance(err, jinja2.TemplateSyntaxError) and err.lineno:
        return f"{err.name or bounds.template_name(err.filename or '')}:{err.lineno}: {message}"
    return message


def first_line(err: BaseException) -> str:
    """`err` as "TypeName: its first line" (at most 200 characters of it)."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:200]}" if text else type(err).__name__


def template_fault(err: Exception, *, rendering: str) -> RenderError | None:
    """`err`, raised while a template rendered, as one RenderError naming the template's file and
    line; None when it is not the template's fault (an OSError outside template code: the
    machine's). `rendering`: the file being rendered ("template/NAME: "), else "". Call it
    inside the call's scratch directory, so that the template's own files are there to be named."""
    place = bounds.template_line(err)
    at = f"{bounds.template_name(place[0], scratch=tempfile.tempdir)}:{place[1]}: " if place else ""
    if isinstance(err, MemoryError):
        what = f"it needs more than {bounds.shown(bounds.memory_budget())} of memory to render"
        return RenderBoundError(
            f"the template is broken: {at}{what} (a value too big to hold); nothing was written",
            hint=f"fix the template; ${bounds.MAX_RENDER_ENV} (default "
            f"{bounds.shown(bounds.DEFAULT_MAX_RENDER_BYTES)}) sets the bounds",
        )
    if isinstance(err, bounds.RenderTimeExceeded):
        return RenderBoundError(
            f"the template is broken: {at}it takes {err} to render (a loop too long); nothing was written",
            hint=f"fix the template; ${bounds.MAX_SECONDS_ENV} (default {bounds.DEFAULT_MAX_SECONDS}) "
            "sets the bound",
        )
    if place is None:
        # outside template code: the template's file only if the machine is not the cause
        at = "" if isinstance(err, OSError) else rendering
        if not at:
            return None
    return RenderError(f"the template is broken: {at}{first_line(err)}", hint=FORK_HINT)
