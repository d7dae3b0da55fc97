"""The `adapterlab` parser: one subcommand per command module, every bad input one line."""

from __future__ import annotations

import argparse
import difflib

from adapterlab.cli import analysis, compare, study, train, use


class OneLineParser(argparse.ArgumentParser):
    """Bad command-line input is one line (what is wrong and where help is), not the whole usage;
    subcommands inherit the class, so every command answers the same way. Exit status 2. An
    unknown option gets the nearest known one of its command ("did you mean --lr?"): an alias
    such as --learning_rate suggests the option it stands for."""

    def parse_known_args(self, args=None, namespace=None):
        parsed, extras = super().parse_known_args(args, namespace)
        if (
            extras and self._subparsers is not None
        ):  # the top parser reports unknown options: with its command's options
            command = self._command_parser(parsed)
            if command is not None:
                hint = command.suggestion(extras)
                if hint:
                    self.error(f"unrecognized arguments: {' '.join(extras)}; {hint}")
        return parsed, extras

    def _command_parser(self, parsed):
        parser = self
        for dest in ("command", "verb"):
            actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction) and a.dest == dest]
            if not actions or getattr(parsed, dest, None) not in actions[0].choices:
                break
            parser = actions[0].choices[getattr(parsed, dest)]
        return parser if parser is not self else None

    def suggestion(self, extras: list[str]) -> str:
        """'did you mean --lr?' for the first unknown option that is close to a known one."""
        canonical = {
            option: action.option_strings[0]
            for action in self._actions
            for option in action.option_strings
            if option.startswith("--")
        }
        for word in extras:
            name = word.split("=", 1)[0]
            if not name.startswith("--"):
                continue
            for spelling in (name, name.replace("_", "-")):
                close = difflib.get_close_matches(spelling, list(canonical), n=1, cutoff=0.75)
                if close:
                    return f"did you mean {canonical[close[0]]}?"
        return ""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """Every command, in the order `adapterlab --help` lists them."""
    from adapterlab._version import __version__

    parser = OneLineParser(
        prog="adapterlab",
        description="Adapter tuning vs full fine-tuning for pretrained encoders (He et al., ACL 2021).",
    )
    parser.add_argument("--version", action="version", version=f"adapterlab {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    train.add_train(commands)
    compare.add_compare(commands)
    compare.add_quickstart(commands)
    study.add_study(commands)
    analysis.add_rsa(commands)
    use.add_use(commands)
    analysis.add_crosslingual(commands)
    analysis.add_forgetting(commands)
    analysis.add_claims(commands)
    train.add_tasks(commands)
    return parser
