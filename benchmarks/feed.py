"""Device feed benchmark (issue 11, point 8) — figures, never pass/fail.

    .venv/bin/python benchmarks/feed.py [--chairs 16] [--seconds 30] [--aligned] [--json out.json]

N chairs, each a simulated monitor on its own MLLP connection sending one
PCD-01 message (HR, SpO2, RR; an NIBP set every 60 s) per second to the app's
own listener (a child process of the window since the listener moved out of
it; the monitors run in a process of their own too), with the main window open on chair 1's chart (built as `ketamon` builds
it). Independent monitors tick at unrelated instants: chair n sends at n/N of
each second. `--aligned` makes all N send at the same instant, the worst case
(a gateway forwarding a batch). Reported:
  store latency   message sent → its ACK received; the ACK is written after the
                  commit, so this bounds "stored within X ms of arrival" (p50, p95, max);
  event-loop stall  a 10 ms QTimer on the GUI thread records how late it fires:
                  the longest lateness, and how many were over 50 ms;
  gc pauses       the window process's garbage collections over 10 ms (gc.callbacks),
                  by generation, with the second of the run.
`--diagnose` also names what the GUI thread was doing in each stall (a watchdog
thread samples its stack once a stall passes 40 ms) and, with pyinstrument
installed, writes where the GUI thread's time went to feed-profile.html.
SQLite in a temporary folder (WAL, synchronous=FULL, as the app runs it).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timezone
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build_clinic(store, chairs: int) -> list[int]:
    """One patient and one session per chair, CHAIR1…CHAIRn; returns the session ids."""
    from ketamon.core import ops
    from ketamon.core.demo import ensure_demo_users

    nurse = ensure_demo_users(store)["nurse"]
    ids = []
    for n in range(1, chairs + 1):
        pid = ops.create_patient(store, nurse, mrn=f"MRN-B{n:03d}", family_name=f"Chair{n}", given_name="Bench",
                                 birth_date=date(1980, 1, n % 28 + 1), sex="female", weight_kg=70).result
        ids.append(ops.create_session(store, nurse, patient_id=pid, protocol_id="iv-ketamine-0.5",
                                      chair=f"CHAIR{n}").result)
    return ids


def monitors(port: int, chairs: int, seconds: int, aligned: bool, out) -> None:
    """The N monitors, in a process of their own (as real monitors are: their
    Python must not compete with the window's); puts (latencies, failures) on `out`."""
    latencies: list[float] = []
    failures: list[str] = []
    go = threading.Event()
    threads = [threading.Thread(target=monitor, daemon=True, args=(
        port, n, seconds, latencies, failures, go, 0.0 if aligned else (n - 1) / chairs)) for n in range(1, chairs + 1)]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join()
    out.put((latencies, failures))


def monitor(port: int, chair: int, seconds: int, latencies: list[float], failures: list[str],
            start: threading.Event, phase: float) -> None:
    """One monitor: a message a second on one connection, each ACK awaited and timed."""
    from ketamon.core.feed import simulator
    from ketamon.core.feed.mllp import Decoder, frame

    plan = simulator.Scenario("steady", nibp_every=60)
    start.wait()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        decoder = Decoder()
        began = time.perf_counter() + phase
        time.sleep(phase)
        for t in range(seconds):
            raw = simulator.message(plan.values(t), datetime.now(timezone.utc), chair=f"CHAIR{chair}",
                                    patient=f"MRN-B{chair:03d}", control_id=f"B{chair}-{t}")
            t0 = time.perf_counter()
            sock.sendall(frame(raw))
            replies: list[bytes] = []
            while not replies:
                replies = decoder.feed(sock.recv(65536))
            latencies.append((time.perf_counter() - t0) * 1000)
            if b"MSA|CA" not in replies[0]:
                failures.append(replies[0].decode(errors="replace").split("\r")[1][:120])
            time.sleep(max(0.0, began + t + 1 - time.perf_counter()))


class _Watchdog(threading.Thread):
    """Samples the GUI thread's stack once per stall (after STALL_SAMPLE_MS without a beat)."""

    STALL_SAMPLE_MS = 40

    def __init__(self, gui_ident: int, last: list[float], began: list[float]):
        super().__init__(daemon=True, name="feed-bench-watchdog")
        self.gui_ident, self.last, self.began = gui_ident, last, began
        self.samples: list[tuple[float, str]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        import traceback

        sampled_for = None
        while not self.stopped.wait(0.005):
            beat = self.last[0]
            if (time.perf_counter() - beat) * 1000 > self.STALL_SAMPLE_MS and sampled_for != beat:
                sampled_for = beat
                frame = sys._current_frames().get(self.gui_ident)
                if frame is not None:
                    stack = [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in traceback.extract_stack(frame)
                             if "/ketamon/" in f.filename or "site-packages" not in f.filename][-8:]
                    self.samples.append((round(time.perf_counter() - self.began[0], 1), " < ".join(reversed(stack))))


def _threads_cpu() -> dict[str, float]:
    """CPU seconds used by each thread of this process so far (Linux /proc), by name."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    names[threading.main_thread().native_id] = "GUI"
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        name = names.get(int(task.name)) or (task / "comm").read_text().strip()
        out[name] = round(out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick, 2)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def run(chairs: int, seconds: int, aligned: bool = False, diagnose: bool = False) -> dict:
    import gc

    from PySide6.QtCore import QTimer

    from ketamon.core.demo import ensure_demo_users
    from ketamon.core.store import Store
    from ketamon.gui.app import build_window, make_application

    app = make_application()
    folder = Path(tempfile.mkdtemp(prefix="ketamon-feed-bench-"))
    store = Store(f"sqlite:///{folder / 'feed.sqlite3'}")
    ids = build_clinic(store, chairs)
    window = build_window(store, ensure_demo_users(store)["nurse"], ids[0], idle_lock=False)
    window.resize(1366, 768)
    window.show()
    if not window.feed.start(port=0) or not window.feed.wait_ready():
        raise SystemExit(window.feed.problem or "the listener did not start")
    port = window.feed.port

    lateness: list[float] = []
    stalls: list[tuple[float, float]] = []  # (second of the run, ms) of each stall over 50 ms
    last = [time.perf_counter()]

    def beat() -> None:
        now = time.perf_counter()
        late = max(0.0, (now - last[0]) * 1000 - 10)
        lateness.append(late)
        if late > 50:
            stalls.append((round(now - began, 1), round(late, 1)))
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(beat)
    for _ in range(20):
        app.processEvents()
    gc_pauses: list[tuple[float, int, float]] = []  # (second of the run, generation, ms)
    gc_started = [0.0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            ms = (time.perf_counter() - gc_started[0]) * 1000
            if ms > 10:
                gc_pauses.append((round(time.perf_counter() - began, 1), info["generation"], round(ms, 1)))

    gc.callbacks.append(on_gc)
    profiler = watchdog = None
    if diagnose:
        watchdog = _Watchdog(threading.get_ident(), last, began_box := [0.0])
        try:
            from pyinstrument import Profiler
            profiler = Profiler(interval=0.001)
        except ImportError:
            pass
    spawn = multiprocessing.get_context("spawn")
    out = spawn.Queue()
    sender = spawn.Process(target=monitors, args=(port, chairs, seconds, aligned, out), daemon=True)
    began = last[0] = time.perf_counter()
    if watchdog is not None:
        began_box[0] = began
        watchdog.start()
    if profiler is not None:
        profiler.start()
    timer.start()
    sender.start()
    while out.empty():
        app.processEvents()
        time.sleep(0.002)
    timer.stop()
    gc.callbacks.remove(on_gc)
    if profiler is not None:
        profiler.stop()
        Path("feed-profile.html").write_text(profiler.output_html())
        profiler.last_session.save("feed-profile.pyisession")  # pyinstrument --load feed-profile.pyisession
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    if watchdog is not None:
        watchdog.stopped.set()
    threads_cpu = _threads_cpu() if diagnose else {}
    latencies, failures = out.get()
    sender.join()
    window.close()
    store.dispose()
    ordered = sorted(latencies)
    return {
        "chairs": chairs, "seconds": seconds, "aligned": aligned, "messages": len(latencies), "refused": len(failures),
        "first_refusal": failures[0] if failures else None,
        "store_latency_ms": {"p50": round(statistics.median(ordered), 1),
                             "p95": round(ordered[int(len(ordered) * 0.95) - 1], 1),
                             "max": round(ordered[-1], 1)} if ordered else None,
        "longest_stall_ms": round(max(lateness), 1) if lateness else None,
        "stalls_over_50ms": len(stalls),
        "stalls": stalls,
        "gc_pauses_over_10ms": gc_pauses,
        "stall_stacks": watchdog.samples if watchdog is not None else [],
        "threads_cpu_s": threads_cpu,
        "load_average": os.getloadavg()[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chairs", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--aligned", action="store_true", help="every monitor sends at the same instant")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--diagnose", action="store_true",
                        help="sample the GUI thread's stack in each stall; profile it (pyinstrument, if installed)")
    args = parser.parse_args()
    figures = run(args.chairs, args.seconds, args.aligned, args.diagnose)
    lat = figures["store_latency_ms"] or {}
    print(f"{figures['chairs']} chairs × {figures['seconds']} s at 1 Hz through the listener, window open: "
          f"{figures['messages']} messages, {figures['refused']} refused"
          + (" (all monitors aligned)" if figures["aligned"] else " (monitors at staggered instants)"))
    print(f"store latency (send → ACK after commit): p50 {lat.get('p50')} ms, p95 {lat.get('p95')} ms, "
          f"max {lat.get('max')} ms")
    print(f"event loop: longest stall {figures['longest_stall_ms']} ms, {figures['stalls_over_50ms']} over 50 ms "
          f"(load average {figures['load_average']:.1f})")
    if figures["stalls"]:
        print("stalls over 50 ms (second of the run, ms): "
              + ", ".join(f"{at:g} s {ms:g}" for at, ms in figures["stalls"]))
    if figures["gc_pauses_over_10ms"]:
        print("garbage collections over 10 ms (second, generation, ms): "
              + ", ".join(f"{at:g} s gen{gen} {ms:g}" for at, gen, ms in figures["gc_pauses_over_10ms"]))
    if figures["threads_cpu_s"]:
        print("CPU seconds by thread of the window's process (start-up included): "
              + ", ".join(f"{k} {v:g}" for k, v in figures["threads_cpu_s"].items()))
    for at, stack in figures["stall_stacks"]:
        print(f"  stall at {at:g} s: {stack}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
