"""`ketamon feed listen` and `ketamon feed simulate`: the bedside monitor feed
without the window.

    ketamon feed listen [--host 127.0.0.1] [--port 2575] --user NAME
    ketamon feed simulate --to 127.0.0.1:2575 --chair CHAIR3 [--patient MRN] [--scenario steady] [--rate 1]

`listen` signs in as a named account (a `service` account: it may store monitor
data and nothing clinical besides) and answers every HL7 v2 message over MLLP
until interrupted (Ctrl-C, or SIGTERM from a service manager); each message is
stored (or refused, with a technical alert) under that account (messages that
arrive together with one commit, each answered after it, as the app's own
listener stores them: `ops.device.feed_listener`), and the silence watch runs
every 5 seconds. `simulate` is a monitor: it needs no database and no account.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

from ketamon.commands.signin import SIGN_IN_HELP, add_sign_in_options, signed_in


def register(sub) -> None:
    from ketamon.commands.common import command_parser, database_options

    feed = command_parser(sub, "feed", help="receive bedside monitor data (HL7 v2 over MLLP), or simulate a monitor",
                          description="The bedside monitor feed: `listen` receives, `simulate` sends.",
                          example="ketamon feed simulate --to 127.0.0.1:2575 --chair CHAIR3")
    actions = feed.add_subparsers(dest="feed_command", metavar="ACTION", required=True)
    listen = command_parser(
        actions, "listen", help="receive monitor messages (HL7 v2 ORU^R01, IHE PCD-01) over MLLP",
        description="Listen for bedside monitors and gateways (MLLP, many messages per connection, several "
                    "monitors at once) and store their values as device vital-sign sets of the session at "
                    "the chair each message names, for the nurse to validate. Runs until interrupted.\n\n"
                    + SIGN_IN_HELP,
        example="ketamon feed listen --port 2575 --user feed --password-file ~/.ketamon-feed")
    listen.add_argument("--host", default=None, help="address to listen on (default: the clinic's setting, "
                                                     "127.0.0.1)")
    listen.add_argument("--port", type=int, default=None, help="TCP port (default: the clinic's setting, 2575)")
    add_sign_in_options(listen)
    database_options(listen)
    listen.set_defaults(func=cmd_listen)

    simulate = command_parser(
        actions, "simulate", help="act as a bedside monitor sending to a listener",
        description="Send realistic PCD-01 messages over one MLLP connection, one every 1/RATE seconds, "
                    "as the monitor at a chair; prints each refusal and every tenth acknowledgement.",
        example="ketamon feed simulate --to 127.0.0.1:2575 --chair CHAIR3 --patient MRN-100457 "
                "--scenario desaturation")
    simulate.add_argument("--to", required=True, metavar="HOST:PORT", help="the listener")
    simulate.add_argument("--chair", help="the chair the monitor stands at (PV1-3)")
    simulate.add_argument("--patient", metavar="MRN", help="the patient's MRN (PID-3), when the monitor knows it")
    simulate.add_argument("--scenario", default="steady", choices=("steady", "hypertension", "desaturation",
                                                                   "probe-off"))
    simulate.add_argument("--rate", type=float, default=1.0, help="messages per second (default 1)")
    simulate.add_argument("--count", type=int, default=None, help="stop after this many seconds of data")
    simulate.add_argument("--nibp-every", type=int, default=300, metavar="S",
                          help="seconds between NIBP measurements (default 300)")
    simulate.add_argument("--monitor-id", default="SIM-MONITOR", help="the monitor's id (MSH-3, OBX-18)")
    simulate.set_defaults(func=cmd_simulate)


def cmd_listen(args: argparse.Namespace) -> int:
    from ketamon.commands.common import CommandFailed, open_store
    from ketamon.core import settings
    from ketamon.core.ops.device import FeedService, feed_listener

    store = open_store(args)
    try:
        with signed_in(store, args) as actor:
            service = FeedService(store, actor)
            host = args.host or settings.clinic_value(store, "feed_host")
            port = args.port if args.port is not None else settings.clinic_value(store, "feed_port")
            listener = feed_listener(service, host, port)
            try:
                listener.start()
            except OSError as exc:
                raise CommandFailed(f"Cannot listen on {host}:{port}: {exc.strerror or exc}.") from None
            # Ctrl-C (or a service manager's SIGTERM) asks it to stop: the handler only
            # sets a flag, which the loop reads between short sleeps. A KeyboardInterrupt
            # raised inside a thread join could leave the joined thread's lock taken, and
            # a handler that takes a lock (Event.set) deadlocks when the signal arrives
            # while the main thread holds that same lock (in Event.wait).
            asked: list[int] = []
            main = threading.current_thread() is threading.main_thread()  # else: stopped by its caller
            previous = {sig: signal.signal(sig, lambda signum, _frame: asked.append(signum))
                        for sig in (signal.SIGINT, signal.SIGTERM)} if main else {}
            try:
                print(f"Listening for monitors on {host}:{listener.port} (MLLP) as {actor.display_name}; "
                      "Ctrl-C stops.", flush=True)
                while listener.running and not asked:
                    time.sleep(0.2)
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
                listener.stop()
            print(f"Stopped after {listener.messages} message(s).")
            return 0
    finally:
        store.dispose()


def cmd_simulate(args: argparse.Namespace) -> int:
    from ketamon.commands.common import CommandFailed
    from ketamon.core.feed import simulator

    host, _, port = args.to.rpartition(":")
    if not host or not port.isdigit():
        raise CommandFailed(f"--to {args.to}: give HOST:PORT, e.g. 127.0.0.1:2575.")
    if args.rate <= 0 or args.rate > 100:
        raise CommandFailed(f"--rate {args.rate:g}: give 0.01–100 messages per second.")
    print(f"Simulating the monitor at {args.chair or '(no chair)'} ({args.scenario}) → {args.to}; Ctrl-C stops.",
          flush=True)
    try:
        sent = simulator.run((host, int(port)), chair=args.chair, patient=args.patient, scenario=args.scenario,
                             rate=args.rate, count=args.count, nibp_every=args.nibp_every,
                             monitor_id=args.monitor_id, say=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        return 0
    print(f"{sent} message(s) acknowledged.", file=sys.stdout)
    return 0
