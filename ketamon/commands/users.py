"""`ketamon users add | list | disable | enable | reset-password`: accounts from the
command line, for whoever runs the clinic's server.

Who acts: on a database without any account, `users add --role admin` creates the
first administrator. Otherwise the command runs as the server operator, who can
open the database anyway; the audit trail records them as "cli:<os user>".

Passwords are asked for (not echoed), or read from the first line of standard
input with --password-stdin. `--password` puts the password in the process list
and the shell history: for throwaway scripts only.
"""
from __future__ import annotations

import argparse
import getpass
import sys

from ketamon.core.permissions import ROLE_LABELS, ROLE_SUMMARIES, ROLES, Actor


def register(sub) -> None:
    from ketamon.commands.common import command_parser, database_options

    users = command_parser(sub, "users", help="manage user accounts (add, list, disable, enable, reset-password)",
                           description="User accounts from the command line, for whoever runs the clinic's "
                                       "server. On a database without accounts, `users add NAME --role admin` "
                                       "creates the first administrator (and the database, if there is none "
                                       "yet); every other action needs an existing database.",
                           example="ketamon --db /srv/ketamon/clinic.sqlite3 users add boss --role admin\n"
                                   "ketamon users add lan --role nurse --name 'Lan Tran RN'\n"
                                   "ketamon users list")
    actions = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)

    add = command_parser(actions, "add", help="add an account",
                         description="Add an account. Roles: " + "; ".join(f"{r} — {ROLE_SUMMARIES[r]}"
                                                                          for r in ROLES) + ".",
                         example="ketamon users add lan --role nurse          # asks for the name and the password\n"
                                 "ketamon users add exports --role service --name 'Records export' "
                                 "--password-stdin < pw.txt")
    add.add_argument("username", metavar="NAME", help="sign-in name: letters, digits, dot, dash, underscore")
    add.add_argument("--name", dest="display_name", metavar="'FULL NAME'",
                     help="the person's name as it appears on the chart (asked for when left out at a "
                          "terminal; else the sign-in name)")
    add.add_argument("--role", required=True, choices=ROLES)
    _password_options(add)
    add.add_argument("--must-change", action="store_true",
                     help="ask for a new password at the first sign-in (when handing out a temporary one)")
    add.set_defaults(func=cmd_add)

    lst = command_parser(actions, "list", help="list accounts (never passwords)",
                         example="ketamon users list --db /srv/ketamon/clinic.sqlite3")
    lst.set_defaults(func=cmd_list)

    dis = command_parser(actions, "disable", help="stop an account from signing in (its entries stay)",
                         example="ketamon users disable lan --reason 'left the clinic'")
    dis.add_argument("username", metavar="NAME")
    dis.add_argument("--reason", help="why, for the audit trail")
    dis.set_defaults(func=cmd_disable)

    ena = command_parser(actions, "enable", help="let a disabled account sign in again",
                         example="ketamon users enable lan")
    ena.add_argument("username", metavar="NAME")
    ena.set_defaults(func=cmd_enable)

    reset = command_parser(actions, "reset-password", help="set a temporary password and lift a lock-out",
                           example="ketamon users reset-password lan      # asks for the temporary password\n"
                                   "ketamon users reset-password exports --keep --password-stdin < pw.txt")
    reset.add_argument("username", metavar="NAME")
    _password_options(reset)
    reset.add_argument("--keep", action="store_true",
                       help="do not ask the user to choose a new password at the next sign-in "
                            "(service accounts, which never sign in to the app)")
    reset.set_defaults(func=cmd_reset_password)

    for p in (add, lst, dis, ena, reset):
        database_options(p)


def _password_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    group.add_argument("--password", metavar="PASSWORD",
                       help="UNSAFE: the password is visible in the process list and shell history; "
                            "for throwaway test scripts only")


def _read_password(args: argparse.Namespace) -> str | None:
    if args.password is not None:
        return args.password
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if sys.stdin is None or not sys.stdin.isatty():
        from ketamon.commands.common import CommandFailed

        raise CommandFailed("No password: ketamon asks for it at a terminal; from a script, use "
                            "--password-stdin.")
    first = getpass.getpass("New password: ")
    if getpass.getpass("Same password again: ") != first:
        print("The two passwords differ; nothing was changed.", file=sys.stderr)
        return None
    return first


def _open_store(args: argparse.Namespace, create: bool = False):
    from ketamon.commands.common import open_store

    return open_store(args, create=create)


def operator() -> Actor:
    """The person at the server's command line, as the audit trail names them."""
    try:
        who = getpass.getuser()
    except Exception:  # no user name in the environment (containers)
        who = "unknown"
    return Actor(None, f"cli:{who}", f"{who} (command line)", "admin")


def _run(args: argparse.Namespace, body, *, create: bool = False) -> int:
    """Refusals (KetamonError) become one sentence in ketamon.cli.run_command."""
    store = _open_store(args, create)
    try:
        return body(store) or 0
    finally:
        store.dispose()


def cmd_add(args: argparse.Namespace) -> int:
    from ketamon.core import ops
    from ketamon.core.auth import needs_first_admin

    from ketamon.core.auth import check_display_name, check_new_password, check_username

    asked: dict = {}

    def ask() -> bool:
        """Name and password, checked before anything is written (a bad one leaves no new database)."""
        if not asked:
            asked["name"] = _display_name(args)
            asked["password"] = _read_password(args)
            if asked["password"] is not None:
                check_username(args.username)
                check_display_name(asked["name"])
                check_new_password(asked["password"], args.username)
        return asked["password"] is not None

    if args.role == "admin" and not ask():  # this one may make the database: ask first
        return 1

    def body(store):
        # others: asked only once the database is known to be there
        if not ask():
            return 1
        display_name, password = asked["name"], asked["password"]
        if args.role == "admin" and needs_first_admin(store):
            actor = ops.create_first_admin(store, username=args.username, display_name=display_name,
                                           password=password)
            print(f"Administrator {actor.display_name} ({actor.username}) created: the first account.")
            return
        changes = ops.add_user(store, operator(), username=args.username, display_name=display_name,
                               role=args.role, password=password, must_change_password=args.must_change)
        print(changes.message + ".")

    # only the first administrator may bring a new clinic database into being
    return _run(args, body, create=args.role == "admin")


def _display_name(args: argparse.Namespace) -> str:
    """--name, else asked for at a terminal (Enter keeps the sign-in name), else the sign-in name."""
    if args.display_name:
        return args.display_name
    if not args.password_stdin and sys.stdin is not None and sys.stdin.isatty():
        answer = input(f"Name on the chart for {args.username} (Enter: {args.username}): ").strip()
        return answer or args.username
    return args.username


def cmd_list(args: argparse.Namespace) -> int:
    from ketamon.core.auth import list_users

    def body(store):
        users = list_users(store)
        if not users:
            print("No accounts yet. Create the administrator: ketamon users add NAME --role admin")
            return
        now = store.clock.now()
        rows = [("USER", "NAME", "ROLE", "STATUS")]
        for u in users:
            status = ["active" if u.active else "disabled"]
            if u.locked_until is not None and u.locked_until > now:
                status.append(f"locked until {u.locked_until.astimezone().strftime('%H:%M')}")
            if u.must_change_password:
                status.append("must change password")
            rows.append((u.username, u.display_name, ROLE_LABELS.get(u.role, u.role), ", ".join(status)))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[3])

    return _run(args, body)


def cmd_disable(args: argparse.Namespace) -> int:
    from ketamon.core import ops

    return _run(args, lambda store: print(ops.disable_user(store, operator(), args.username,
                                                           reason=args.reason).message + "."))


def cmd_enable(args: argparse.Namespace) -> int:
    from ketamon.core import ops

    return _run(args, lambda store: print(ops.enable_user(store, operator(), args.username).message + "."))


def cmd_reset_password(args: argparse.Namespace) -> int:
    from ketamon.core import ops

    def body(store):
        password = _read_password(args)
        if password is None:
            return 1
        changes = ops.reset_password(store, operator(), args.username, password, must_change=not args.keep)
        print(changes.message + (" (they choose a new one at the next sign-in)." if not args.keep else "."))

    return _run(args, body)
