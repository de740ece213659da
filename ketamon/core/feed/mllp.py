"""MLLP (the Minimal Lower Layer Protocol) and the listener monitors send to.

A message is framed 0x0B … 0x1C 0x0D; a connection stays open for many
messages (real gateways keep it open), each answered, in order, before the next
is read. The listener is asyncio on a thread of its own (never the GUI thread);
each message is handed to `handle(raw, peer) -> ack bytes` on a small worker
pool, so a slow database never stalls the reading of other monitors' sockets.
Nothing a sender does brings it down: bytes outside a frame are dropped, a
frame longer than `max_bytes` is cut there (and refused by the handler, which
sees it too long), a connection that breaks mid-message is reported through
`on_lost(peer)` and the listener goes on.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

START, END = b"\x0b", b"\x1c\x0d"
#: the longest frame kept whole (longer ones are cut here and refused)
MAX_BYTES = 64 * 1024


def frame(message: bytes) -> bytes:
    return START + message + END


class Decoder:
    """Bytes of one connection in, whole messages out (`feed`)."""

    def __init__(self, max_bytes: int = MAX_BYTES):
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self._in_frame = False
        self._overflow = False
        self._carry = b""

    @property
    def pending(self) -> bool:
        """A message has begun and not ended (a connection dropped now lost it)."""
        return self._in_frame

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        data = self._carry + data
        # an end marker split across two reads: its 0x1C waits for the next read
        self._carry = b"\x1c" if data.endswith(b"\x1c") else b""
        for chunk in _split_keep(data[:len(data) - len(self._carry)]):
            if not self._in_frame:
                if chunk == START:
                    self._in_frame, self._overflow = True, False
                    self._buffer.clear()
                continue  # bytes between frames are noise
            if chunk == START:  # a new frame without the end of the previous one: start over
                self._buffer.clear()
                self._overflow = False
            elif chunk == END:
                out.append(bytes(self._buffer))
                self._buffer.clear()
                self._in_frame = False
            elif not self._overflow:
                self._buffer += chunk
                if len(self._buffer) > self.max_bytes:
                    del self._buffer[self.max_bytes + 1:]  # enough to be refused as too long
                    self._overflow = True
        return out


def _split_keep(data: bytes) -> list[bytes]:
    """`data` cut into START, END and the bytes between, in order."""
    out: list[bytes] = []
    i = 0
    while i < len(data):
        j = min((k for k in (data.find(START, i), data.find(END, i)) if k >= 0), default=-1)
        if j < 0:
            out.append(data[i:])
            break
        if j > i:
            out.append(data[i:j])
        marker = START if data.startswith(START, j) else END
        out.append(marker)
        i = j + len(marker)
    return out


class Listener:
    """An MLLP server on its own thread. `start()` returns once it listens (or
    raises OSError: the port taken); `stop()` closes it and every connection."""

    def __init__(self, handle: Callable[[bytes, str], bytes], host: str = "127.0.0.1", port: int = 2575, *,
                 on_lost: Callable[[str], None] | None = None, tick: Callable[[], None] | None = None,
                 tick_seconds: float = 5.0, workers: int = 4, max_bytes: int = MAX_BYTES):
        self.handle, self.host, self.port = handle, host, port
        self.on_lost, self.tick, self.tick_seconds, self.max_bytes = on_lost, tick, tick_seconds, max_bytes
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ketamon-feed-store")
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[asyncio.Task] = set()
        #: messages answered since start (for status lines and the benchmark)
        self.messages = 0

    def start(self) -> Listener:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="ketamon-feed",
                                        daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and self._thread and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def running(self) -> bool:
        """Listening (started, and not stopped or failed)."""
        return self._thread is not None and self._thread.is_alive()

    def wait(self) -> None:
        """Block until stopped (the command line's `feed listen`)."""
        if self._thread is not None:
            while self._thread.is_alive():
                self._thread.join(timeout=0.5)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        try:
            server = await asyncio.start_server(self._serve, self.host, self.port, limit=self.max_bytes)
        except OSError as exc:
            self._error = exc
            self._ready.set()
            return
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        ticker = asyncio.create_task(self._ticker()) if self.tick is not None else None
        await self._stopping.wait()
        server.close()
        for task in list(self._connections) + ([ticker] if ticker else []):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await server.wait_closed()

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            try:
                await self._loop.run_in_executor(self._pool, self.tick)
            except Exception:
                log.exception("device feed watch failed")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        peer = "%s:%s" % (writer.get_extra_info("peername") or ("?", "?"))[:2]
        decoder = Decoder(self.max_bytes)
        lost = False
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    lost = decoder.pending
                    break
                for raw in decoder.feed(data):
                    reply = await self._loop.run_in_executor(self._pool, self.handle, raw, peer)
                    writer.write(frame(reply))
                    await writer.drain()
                    self.messages += 1
        except asyncio.CancelledError:
            pass  # the listener stops
        except (ConnectionError, OSError):
            lost = True
        except Exception:  # a fault in handling one message must not end the listener
            log.exception("device feed connection %s failed", peer)
            lost = True
        finally:
            self._connections.discard(task)
            writer.close()
            if lost and self.on_lost is not None:
                self._loop.run_in_executor(self._pool, self.on_lost, peer)
