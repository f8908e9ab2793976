"""User-facing errors: the CLI prints them as one line and exits non-zero, without a traceback."""


class UserError(Exception):
    """Something wrong with the user's input or environment; the message says what and what to do."""
