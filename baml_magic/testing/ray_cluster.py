"""A real two-node Ray cluster for tests and benchmarks: a head and a worker node, each its own ``ray start --block``
process group, on loopback addresses other than 127.0.0.1 (Ray rewrites 127.0.0.1 into the machine's network
address). Stopping ends only the processes these started (``ray stop`` would end every Ray process here)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HEAD, WORKER = "127.0.0.2", "127.0.0.3"
START_SECONDS = 120.0  # each node's start, next to a CPU hog (about 12 s idle)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HEAD, 0))
        return int(s.getsockname()[1])


class Node:
    """One ``ray start --block`` process and its log."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str]) -> None:
        self.log = log
        with log.open("w") as out:
            self.process = subprocess.Popen([str(Path(sys.executable).parent / "ray"), "start", *args, "--block",
                                             "--disable-usage-stats"], stdout=out, stderr=subprocess.STDOUT,
                                            env=env, start_new_session=True)

    def wait_started(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while "Ray runtime started" not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"a Ray node did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.2)  # a log file to read again: nothing to wait on

    def terminate(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)  # the node's group: its raylet, store and workers

    def wait_stopped(self) -> None:
        self.process.wait()


@contextmanager
def ray_cluster(env: dict[str, str], cpus: int = 2) -> Iterator[str]:
    """Start a head and a worker node; yield the head's address (for ``ray.init(address=...)``)."""
    temp = Path(tempfile.mkdtemp(prefix="bm-ray-"))  # short: Ray's socket paths must fit in 107 characters
    env = {**env, "RAY_USAGE_STATS_ENABLED": "0", "RAY_DEDUP_LOGS": "0"}
    port = _free_port()
    address = f"{HEAD}:{port}"
    nodes: list[Node] = []
    try:
        nodes.append(Node(["--head", f"--node-ip-address={HEAD}", f"--port={port}", f"--num-cpus={cpus}",
                           "--include-dashboard=false", f"--temp-dir={temp}"], temp / "head.log", env))
        nodes[0].wait_started()
        nodes.append(Node([f"--address={address}", f"--node-ip-address={WORKER}", f"--num-cpus={cpus}"],
                          temp / "worker.log", env))
        nodes[1].wait_started()
        yield address
    finally:
        for node in reversed(nodes):
            node.terminate()
        for node in nodes:
            node.wait_stopped()
        shutil.rmtree(temp, ignore_errors=True)
