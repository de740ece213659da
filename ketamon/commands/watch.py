"""`ketamon watch`: the clinic database's change notices, one JSON line each, as
they arrive (for clinic IT and integrations).

    ketamon [--db URL] watch [--count N]

Each line is the notice an operation produced on some workstation, e.g.
`{"at":"2026-11-30T09:14:03Z","flags":["alerts","vitals"],"sessions":[12],"patients":[],"message":"","origin":"chair-3:4121"}`;
`origin` "database" marks a "refresh everything" notice sent after the connection
came back (what changed meanwhile is not itemised). Whether the database is
reachable is said on standard error. Ctrl+C stops; `--count N` stops after N notices.
"""
from __future__ import annotations

import argparse
import json
import queue
import sys
from datetime import datetime, timezone


def register(sub) -> None:
    from ketamon.commands.common import command_parser, database_options

    watch = command_parser(sub, "watch", help="print the clinic's change notices as JSON lines as they arrive",
                           example="ketamon --db postgresql://ketamon_app@db.clinic/ketamon watch\n"
                                   "ketamon watch --count 1   # wait for one change, print it, stop")
    database_options(watch)
    watch.add_argument("--count", type=int, metavar="N", help="stop after N notices")
    watch.set_defaults(func=run_watch)


def line(changes) -> str:
    """One notice as printed: its time of arrival first, then the notice's own fields."""
    data = {"at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    data.update(json.loads(changes.to_json()))
    return json.dumps(data, separators=(",", ":"))


def run_watch(args: argparse.Namespace) -> int:
    from ketamon.commands.common import open_store, shown_url
    from ketamon.core.live import Listener

    store = open_store(args)
    notices: queue.Queue = queue.Queue()
    listener = Listener(store, notices.put,
                        lambda ok, sentence: print(sentence, file=sys.stderr, flush=True)).start()
    try:
        if listener.wait_ready():
            print(f"watching {shown_url(store.url)}", file=sys.stderr, flush=True)
        seen = 0
        while args.count is None or seen < args.count:
            print(line(notices.get()), flush=True)
            seen += 1
    finally:
        listener.stop()
        store.dispose()
    return 0
