"""The one error type for problems a user can fix: bad input, bad files, bad settings."""


class AdapterlabError(Exception):
    """A user-facing problem. The message names the field or file, the value, and what is allowed.

    The CLI prints it as one line on stderr and exits with code 2.
    """
