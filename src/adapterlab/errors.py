"""The one error type for problems a user can fix: bad input, bad files, bad settings."""


class AdapterlabError(Exception):
    """A user-facing problem. The message names the field or file, the value, and what is allowed.

    The CLI prints it as one line on stderr and exits with code 2.
    """


def reject_unknown(values: dict, known: set[str], where: str, what: str = "setting") -> None:
    """One clear error for the first key of `values` that is not in `known`."""
    unknown = sorted(set(values) - known)
    if unknown:
        raise AdapterlabError(f"{where}: unknown {what} {unknown[0]!r}; allowed: {', '.join(sorted(known))}")
