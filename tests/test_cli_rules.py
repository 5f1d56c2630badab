"""Rules every command of `noisegen` and `noisegen-train` follows (issue 17, "the newcomer's path"):

- options must be spelled out: a prefix (``--worker 2``, ``--pair DIR``) is an unknown option, not an
  abbreviation (noisegen.command.CommandParser, on every parser and subparser);
- ``--threads`` says the same thing with the same default everywhere, and ``--workers`` states its
  default and its cap (the CPU count) everywhere;
- what ``--resume`` lists as changeable are options that exist.
"""

from __future__ import annotations

import argparse

import pytest

from noisegen.cli.main import build_parser as noisegen_parser
from noisegen.command import THREADS_HELP, WORKERS_HELP, CommandParser, default_threads, default_workers

torch = pytest.importorskip("torch")

from trainer.cli import build_parser as train_parser  # noqa: E402


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command path, parser) of every leaf command."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for action in subs:
        for name, sub in action.choices.items():
            yield from _commands(sub, (*path, name))


def _all_parsers(parser):
    yield parser
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for sub in a.choices.values():
                yield from _all_parsers(sub)


COMMANDS = [(tool, path, p) for tool, build in (("noisegen", noisegen_parser), ("noisegen-train", train_parser))
            for path, p in _commands(build())]


def test_every_parser_and_subparser_refuses_abbreviations():
    for build in (noisegen_parser, train_parser):
        for p in _all_parsers(build()):
            assert isinstance(p, CommandParser) and p.allow_abbrev is False, p.prog


@pytest.mark.parametrize("tool, path, parser", COMMANDS, ids=[f"{t} {' '.join(c)}" for t, c, _ in COMMANDS])
def test_a_prefix_of_an_option_is_an_unknown_option(tool, path, parser):
    options = [o for a in parser._actions for o in a.option_strings]
    positionals = [a for a in parser._actions if not a.option_strings]
    for a in parser._actions:
        a.required = False  # only the option under test matters here
    filler = [str(a.choices[0] if isinstance(a.choices, (list, tuple)) else next(iter(a.choices or ["x"])))
              for a in positionals]
    tried = 0
    for option in options:
        prefix = option[:-1]
        if not option.startswith("--") or option in ("--help", "--version") or prefix in options or len(prefix) < 4:
            continue
        _, extra = parser.parse_known_args([*filler, prefix])
        assert prefix in extra, f"{tool} {' '.join(path)}: {prefix} was taken for {option}"
        tried += 1
    assert tried or not [o for o in options if o.startswith("--") and o not in ("--help", "--version")]


def test_a_prefix_is_an_error_on_the_command_line(capsys):
    from noisegen.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["stats", "--pair", "somewhere"])
    assert exc.value.code == 2 and "unrecognized arguments: --pair\n" in capsys.readouterr().err


def test_threads_and_workers_say_the_same_everywhere():
    threads = [(t, c, a) for t, c, p in COMMANDS for a in p._actions if "--threads" in a.option_strings]
    assert {c for _, c, _ in threads} == {("sn",), ("tf",), ("da",), ("eval",), ("denoise",), ("dbsn",),
                                          ("pseudo-pairs",), ("distill",), ("camera",)}
    assert all(a.help == THREADS_HELP and a.default in (None, argparse.SUPPRESS) for _, _, a in threads)
    workers = [(c, a) for _, c, p in COMMANDS for a in p._actions if "--workers" in a.option_strings]
    assert {c for c, _ in workers} == {("generate",), ("stats",), ("realism",), ("sn",), ("da",), ("distill",),
                                       ("camera",)}
    for command, a in workers:
        assert "at most the CPU count" in a.help and a.default in (None, argparse.SUPPRESS), command
        if command not in (("sn",), ("da",), ("distill",), ("camera",)):  # the trainers' loaders feed one process
            assert WORKERS_HELP[len("default: "):] in a.help, command
    assert default_workers() >= 1 and default_workers(10**6) == default_workers() and default_workers(1) == 1
    assert default_threads(10**6) == 1 and default_threads(0) == max(1, default_workers() - 1)


@pytest.mark.parametrize("command", ["sn", "tf", "da", "dbsn", "distill"])
def test_the_options_resume_lists_exist(command):
    parser = dict((c, p) for _, c, p in COMMANDS)[(command,)]
    resume = next(a for a in parser._actions if "--resume" in a.option_strings).help
    listed = resume.split("only these may change: ")[1].split(".")[0].split(", ")
    options = {o for a in parser._actions for o in a.option_strings}
    assert "--no-progress" in listed and "--progress" not in listed
    assert set(listed) <= options, set(listed) - options
