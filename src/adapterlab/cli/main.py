"""Running one command: logging for the terminal, and every error a user can cause as one line
on stderr with exit 2 (interrupted: 130)."""

from __future__ import annotations

import logging
import os
import sys

from adapterlab.cli.parser import build_parser
from adapterlab.errors import AdapterlabError
from adapterlab.runtime import keep_freed_memory


class _PlainInfo(logging.Formatter):
    """INFO lines as they are (the summary before training reads as text); warnings and errors
    with their level and where they come from."""

    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage() if record.levelno == logging.INFO else super().format(record)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    handler = logging.StreamHandler()
    handler.setFormatter(_PlainInfo("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded in study folders and reports
    keep_freed_memory()
    try:
        import transformers

        transformers.logging.set_verbosity_error()  # "newly initialized head" notices are expected here
        transformers.utils.logging.disable_progress_bar()
        return args.run(args)
    except AdapterlabError as err:
        print(f"adapterlab: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _close_progress_bars()  # so that the message gets its own line and no bar is redrawn after it
        kept = (
            "the rows of the runs analyzed so far are kept; the next `study analyze` computes the rest"
            if args.argv[:2] == ["study", "analyze"]
            else "unfinished runs have no result.json and run again next time"
        )
        print(f"adapterlab: interrupted; {kept}", file=sys.stderr)
        return 130
    except OSError as err:  # an --out that cannot be written, a full disk: one line, not a traceback
        print(f"adapterlab: error: {_os_error_text(err)}", file=sys.stderr)
        return 2


def _os_error_text(err: OSError) -> str:
    """Where and why, naming the file in the way when mkdir or open failed below a path that is a file."""
    where = err.filename or "output"
    why = err.strerror or str(err)
    from adapterlab.runs import file_in_the_way

    blocking = (
        file_in_the_way(err.filename)
        if isinstance(err, (FileExistsError, NotADirectoryError)) and err.filename
        else None
    )
    if blocking is not None:  # mkdir or open below a path that is a file
        where, why = blocking, "is a file, where a folder is needed (in an --out path, or above one)"
    return f"{where}: {why}"


def _close_progress_bars() -> None:
    if "tqdm" in sys.modules:
        from tqdm import tqdm

        for bar in list(tqdm._instances):
            bar.close()


if __name__ == "__main__":
    sys.exit(main())
