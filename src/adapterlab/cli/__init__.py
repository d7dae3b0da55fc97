"""The command line: parse, build a config, call one library function, map errors to exit 2.

main.py runs a command (logging, errors to one line); parser.py builds the parser from the
command modules (train, compare, study, use, analysis), each of which adds its commands' options
and calls the library. The `adapterlab` console script is `adapterlab.cli:main`."""

from adapterlab.cli.main import main
from adapterlab.cli.parser import build_parser
from adapterlab.train.options import Default, add_train_arguments, config_from_args

__all__ = ["Default", "add_train_arguments", "build_parser", "config_from_args", "main"]
