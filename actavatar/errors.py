"""Typed errors. The library raises these; the CLI maps them to exit code 2 and the app to ``gr.Error``."""


class ActAvatarError(Exception):
    """Base class of every error ActAvatar raises on purpose."""


class InputError(ActAvatarError, ValueError):
    """Bad user input. ``str(err)`` is a one-line, user-facing message naming the problem and the fix."""


class Cancelled(ActAvatarError):
    """Raised by a ``progress`` callback to stop a run: it stops at that step and leaves no output file behind."""
