"""An emulator in a background thread of this process (``entra-bootstrap demo``, benchmarks).

``start(data_dir)`` serves on a free port and returns once it is ready, with the client
environment it wrote to ``data_dir/env.json``; ``stop()`` shuts it down.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass
from pathlib import Path

from .server import serve
from .state import Faults


@dataclass
class Embedded:
    url: str
    env: dict[str, str]
    _loop: asyncio.AbstractEventLoop
    _stop: asyncio.Event
    _thread: threading.Thread

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)


def start(data_dir: Path, faults: Faults | None = None, timeout: float = 30.0) -> Embedded:
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict = {}

    def on_ready(url: str) -> None:
        box["url"] = url
        ready.set()

    def main() -> None:
        asyncio.set_event_loop(loop)
        box["stop"] = asyncio.Event()
        try:
            loop.run_until_complete(serve(0, data_dir, None, faults or Faults(), ready=on_ready,
                                          stop=box["stop"]))
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            box["error"] = exc
            ready.set()
        finally:
            loop.close()

    thread = threading.Thread(target=main, name="entra-bootstrap-emulator", daemon=True)
    thread.start()
    if not ready.wait(timeout) or "error" in box:
        raise RuntimeError(f"the embedded emulator did not start: {box.get('error', 'timeout')}")
    env = json.loads((data_dir / "env.json").read_text())
    return Embedded(box["url"], env, loop, box["stop"], thread)
