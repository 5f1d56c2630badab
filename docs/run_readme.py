"""Run every command of README.md in a fresh clone, in the order written, and check it stays clean.

    python docs/run_readme.py              # clone HEAD into a temporary folder and run the README there
    python docs/run_readme.py --list       # print the commands, run nothing
    python docs/run_readme.py --keep       # keep the temporary folder (its path is printed)
    python docs/run_readme.py --skip 'pytest'   # leave out the commands that match a regex (listed)

What it does, as a new user would:

1. ``git clone`` this repository's HEAD (committed files only) into TMP/noisegen, and link TMP/shared
   to the ``shared`` folder beside this repository, so that ``../shared/data/...`` means there what it
   means here.
2. Take the README's ```bash and ```python blocks in order. A block right after a line
   ``<!-- not-run: REASON -->`` is skipped and listed. A bash block is split into commands at line ends
   (a trailing backslash continues the line; blank lines and comment lines are dropped); a python block
   is one command, run with ``python -``.
3. Run the commands one by one in one bash shell in TMP/noisegen, so that ``cd`` and ``. .venv/bin/activate``
   carry over from one command to the next as in a terminal, each with stdin from /dev/null and the signal
   dispositions of a terminal's foreground (Ctrl-C and SIGTERM not ignored, however this script was started). Print each
   command's wall time and exit status; stop at the first failure (``--keep-going`` runs the rest).
4. Print ``git status --porcelain`` of the clone: every output must go to git-ignored folders.

Exit status 0 when every command succeeded and ``git status --porcelain`` printed nothing. The output of
the commands goes to TMP/readme.log (``--keep`` to read it afterwards; the tail of a failing command's
output is printed).
"""

from __future__ import annotations

import argparse
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_RUN = re.compile(r"<!--\s*not-run\b:?\s*(.*?)\s*-->")
FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass(frozen=True)
class Command:
    """One command of the README: its text, its language ("bash" or "python") and its line in README.md."""

    text: str
    lang: str
    line: int


@dataclass(frozen=True)
class Skipped:
    """A README block marked not-run: its first line and the reason given."""

    line: int
    reason: str
    text: str


def parse_readme(text: str) -> tuple[list[Command], list[Skipped]]:
    """The README's commands in order, and the blocks marked ``<!-- not-run: ... -->``."""
    lines = text.splitlines()
    commands: list[Command] = []
    skipped: list[Skipped] = []
    i = 0
    pending_skip: str | None = None
    while i < len(lines):
        line = lines[i]
        m = NOT_RUN.search(line)
        if m:
            pending_skip = m.group(1) or "marked not-run"
            i += 1
            continue
        fence = FENCE.match(line)
        if not fence:
            if line.strip():
                pending_skip = None  # a marker applies to the block right after it only
            i += 1
            continue
        lang, start = fence.group(1), i + 1
        j = start
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        body = lines[start:j]
        i = j + 1
        if lang not in ("bash", "sh", "shell", "python"):
            pending_skip = None
            continue
        if pending_skip is not None:
            skipped.append(Skipped(start + 1, pending_skip, "\n".join(body)))
            pending_skip = None
            continue
        if lang == "python":
            commands.append(Command("\n".join(body), "python", start + 1))
            continue
        current, first = "", start + 1
        for k, raw in enumerate(body):
            stripped = raw.strip()
            if not current and (not stripped or stripped.startswith("#")):
                continue
            if not current:
                first = start + 1 + k
            if stripped.endswith("\\"):
                current += stripped[:-1].rstrip() + " "
                continue
            commands.append(Command(current + stripped, "bash", first))
            current = ""
        if current:
            commands.append(Command(current.strip(), "bash", first))
    return commands, skipped


def shell_text(cmd: Command) -> str:
    """What the shell runs for ``cmd`` (python blocks through ``python -`` with a quoted here-document)."""
    if cmd.lang == "python":
        return f"python - <<'README_PYTHON'\n{cmd.text}\nREADME_PYTHON"
    return cmd.text


def _terminal_signals() -> None:
    """In the shell's process: Ctrl-C, SIGTERM and SIGQUIT act as in a terminal's foreground, even when this
    script was started with them ignored (nohup, a background job of a shell without job control)."""
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
        signal.signal(s, signal.SIG_DFL)


class Shell:
    """One bash process; run() sends it a command and waits for the command's exit status on a pipe."""

    def __init__(self, cwd: Path, log: Path, env: dict[str, str]) -> None:
        self.status_r, status_w = os.pipe()
        self.log = open(log, "ab", buffering=0)
        self.proc = subprocess.Popen(["bash", "--noprofile", "--norc"], cwd=cwd, stdin=subprocess.PIPE,
                                     stdout=self.log, stderr=subprocess.STDOUT, pass_fds=(status_w,), env=env,
                                     start_new_session=True, preexec_fn=_terminal_signals)
        os.close(status_w)
        self.status_fd = status_w  # the same descriptor number inside bash (pass_fds)
        self.closed = False

    def run(self, text: str, timeout: float) -> int | None:
        """Run ``text``; its exit status, or None when it ran past ``timeout`` seconds (the shell is killed)."""
        assert self.proc.stdin is not None
        self.log.write(f"\n$ {text}\n".encode())
        script = f"{{ {text}\n}} < /dev/null\necho $? >&{self.status_fd}\n"
        self.proc.stdin.write(script.encode())
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.status_r], [], [], timeout)
        if not ready:
            self.close(kill=True)
            return None
        data = b""
        while not data.endswith(b"\n"):
            chunk = os.read(self.status_r, 64)
            if not chunk:  # the shell exited (e.g. the command ran `exit`)
                return self.proc.wait()
            data += chunk
        return int(data.strip())

    def close(self, kill: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        if kill:
            os.killpg(self.proc.pid, 9)
        elif self.proc.stdin is not None and self.proc.poll() is None:
            self.proc.stdin.close()
        self.proc.wait()
        os.close(self.status_r)
        self.log.close()


def _tail(path: Path, n: int = 15) -> str:
    lines = path.read_text(errors="replace").splitlines()
    return "\n".join("    " + line[-200:] for line in lines[-n:])


def _short(text: str, width: int = 110) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 3] + "..."


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run the README's commands in a fresh clone; check git status.")
    ap.add_argument("--list", action="store_true", help="print the commands and the skipped blocks, run nothing")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--keep-going", action="store_true", help="run the remaining commands after a failure")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per command (default 1800)")
    ap.add_argument("--skip", metavar="REGEX", action="append", default=[],
                    help="do not run the commands that match REGEX (e.g. the test suite, run on its own); repeatable")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared",
                    help="the folder that ../shared means beside the clone (default: the one beside this repository)")
    args = ap.parse_args(argv)

    commands, skipped = parse_readme((ROOT / "README.md").read_text(encoding="utf-8"))
    asked = [c for c in commands if any(re.search(rx, c.text) for rx in args.skip)]
    commands = [c for c in commands if c not in asked]
    skipped = sorted(skipped + [Skipped(c.line, "left out with --skip", c.text) for c in asked], key=lambda s: s.line)
    if args.list:
        for c in commands:
            print(f"README.md:{c.line}: [{c.lang}] {_short(c.text)}")
        for s in skipped:
            print(f"README.md:{s.line}: not run ({s.reason})")
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="run_readme-"))
    clone, log = tmp / "noisegen", tmp / "readme.log"
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    if args.shared.exists():
        (tmp / "shared").symlink_to(args.shared.resolve())
    else:
        print(f"warning: {args.shared} does not exist; commands that read ../shared/data will fail", file=sys.stderr)
    print(f"fresh clone of {head} in {clone}; ../shared -> {args.shared}; log {log}")
    print(f"{len(commands)} commands, {len(skipped)} blocks not run\n")

    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "NOISEGEN_SHARED_DATA")}
    if os.environ.get("VIRTUAL_ENV"):  # start from the system's python, as a new terminal would
        venv_bin = str(Path(os.environ["VIRTUAL_ENV"]) / "bin")
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    shell = Shell(clone, log, env)
    failures, ran, total = 0, 0, time.monotonic()
    for n, c in enumerate(commands, 1):
        ran = n
        start = time.monotonic()
        rc = shell.run(shell_text(c), args.timeout)
        took = time.monotonic() - start
        status = "timeout" if rc is None else f"rc={rc}"
        print(f"{n:3d} {took:7.1f} s  {status:8s} README.md:{c.line}  {_short(c.text, 90)}", flush=True)
        if rc != 0:
            failures += 1
            print(_tail(log))
            if rc is None or not args.keep_going:
                break
    shell.close()
    print(f"\ntotal {time.monotonic() - total:.0f} s; {ran} of {len(commands)} commands run, {failures} failed")
    for s in skipped:
        print(f"not run: README.md:{s.line} ({s.reason})")

    dirty = subprocess.run(["git", "-C", str(clone), "status", "--porcelain"], capture_output=True, text=True,
                           check=True).stdout
    print("git status --porcelain: " + ("(empty)" if not dirty.strip() else "\n" + dirty.rstrip()))
    if args.keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if failures == 0 and not dirty.strip() else 1


if __name__ == "__main__":
    sys.exit(main())
