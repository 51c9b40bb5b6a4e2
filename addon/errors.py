"""The add-on's one exception for problems the user can fix; operators turn it into an ERROR report."""

from __future__ import annotations


class AddonError(Exception):
    """A message that says what was wrong and what to do. Never carries a traceback to the user."""


class JobCancelled(AddonError):
    """A backend job ended because the user cancelled it."""
