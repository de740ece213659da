"""Signing in on the command line, for `report` and `export`.

Whoever prints or exports a record from the command line signs in as a named
account with its password, through the same `ops.sign_in` the app's sign-in
dialog uses: wrong passwords count towards the lock-out and are audited, and the
print or export is audited under that person. There is no default account and
no way round the password, `--demo` included (the demo accounts have documented
passwords).

The password comes from, in this order:
- `--password-file FILE`: the first line of a file only its owner may read
  (chmod 600); a file others can read is refused, as ssh refuses a key;
- `--password-stdin`: the first line of standard input (`docker login` style);
- a prompt without echo, when standard input is a terminal.
Never from an option's value: that would put it in the process list.
"""
from __future__ import annotations

import argparse
import getpass
import os
import stat
import sys
from contextlib import contextmanager

from ketamon.core.permissions import Actor

SIGN_IN_HELP = """\
Signing in: --user NAME (or KETAMON_USER) and the account's password, typed at the
prompt, or for scripts --password-stdin or --password-file FILE (readable by its
owner only: chmod 600 FILE). Wrong passwords count towards the lock-out like in
the app. A `service` account (print and export only) suits scheduled scripts.
With --demo, the demo accounts and their passwords work the same way
(desk / desk-demo)."""


def add_sign_in_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("signing in")
    group.add_argument("--user", "--as", dest="user", metavar="NAME",
                       help="the account to sign in as (default: $KETAMON_USER)")
    how = group.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input")
    how.add_argument("--password-file", metavar="FILE",
                     help="read the password from the first line of FILE, which only its owner may read")


def _fail(sentence: str):
    from ketamon.commands.common import CommandFailed

    return CommandFailed(sentence)


def account_name(args: argparse.Namespace) -> str:
    from ketamon.core import settings

    name = (getattr(args, "user", None) or settings.get("user") or "").strip()
    if not name:
        hint = " (the demo's front desk: --user desk, password desk-demo)" if getattr(args, "demo", False) else ""
        raise _fail(f"Name the account to sign in as with --user NAME or KETAMON_USER{hint}.")
    return name


def read_password_file(path: str) -> str:
    """The first line of `path`, refused unless only its owner can read or write it."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise _fail(f"There is no password file {path}.") from None
    except OSError as exc:
        raise _fail(f"The password file {path} cannot be read: {exc.strerror}.") from None
    if not stat.S_ISREG(info.st_mode):
        raise _fail(f"The password file {path} is not a file.")
    if os.name == "posix" and info.st_mode & 0o077:
        raise _fail(f"The password file {path} can be read by others (mode {stat.S_IMODE(info.st_mode):04o}); "
                    f"make it readable by its owner only: chmod 600 {path}")
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"The password file {path} cannot be read: {getattr(exc, 'strerror', None) or exc}.") from None


def read_password(args: argparse.Namespace, name: str) -> str:
    if getattr(args, "password_file", None):
        password, source = read_password_file(args.password_file), f"the password file {args.password_file}"
    elif getattr(args, "password_stdin", False):
        password, source = sys.stdin.readline().rstrip("\r\n"), "standard input"
    elif sys.stdin is not None and sys.stdin.isatty():
        password, source = getpass.getpass(f"Password for {name}: "), "the prompt"
    else:
        raise _fail(f"No password for {name}: ketamon asks for it at a terminal; from a script, "
                    "use --password-stdin or --password-file FILE.")
    if not password:
        raise _fail(f"The password from {source} is empty; nothing was done.")
    return password


@contextmanager
def signed_in(store, args: argparse.Namespace):
    """Sign in as the named account (audited, lock-out counted), yield its Actor,
    and record the sign-out when the command is done, whatever happened."""
    from ketamon.core import ops

    name = account_name(args)
    password = read_password(args, name)
    signed = ops.sign_in(store, name, password)  # AuthenticationError: the app's own sentence
    actor: Actor = signed.actor
    try:
        if signed.must_change_password:
            how = ("ask an administrator for a new one (ketamon users reset-password NAME --keep)"
                   if actor.role == "service" else "sign in to the app once to choose your own")
            raise _fail(f"The password of {actor.username} was reset by an administrator: {how}.")
        yield actor
    finally:
        ops.sign_out(store, actor, reason="command line finished")
