"""Training on several hosts: ``TF_CONFIG``, the chief, and peers that do not answer.

``python -m train --strategy multiworker`` uses TensorFlow's
``MultiWorkerMirroredStrategy``, configured the way TensorFlow documents it: each
process gets ``TF_CONFIG`` with the whole cluster and its own task::

    {"cluster": {"worker": ["host1:12345", "host2:12345"]},
     "task": {"type": "worker", "index": 0}}

The chief (task ``chief``, or worker 0 when the cluster has no chief) alone
writes the run folder; every other worker writes what it must (TensorFlow
saves on all workers) into a temporary folder that is removed when it ends.
Each worker reads only its own share of every global batch
(:func:`train.loop.epoch_dataset`). With ``--resume`` every worker reads the
run folder's checkpoint, so across hosts it must be on storage every worker
can read.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from runtime.errors import ConfigError, PeerError  # noqa: F401  (PeerError: raised here, caught at the CLI edge)

#: Seconds a worker waits for its peers (at start and in every collective) before giving up.
DEFAULT_PEER_TIMEOUT = 120.0


@dataclass(frozen=True)
class Task:
    type: str
    index: int
    cluster: dict
    address: str

    @property
    def is_chief(self) -> bool:
        if "chief" in self.cluster:
            return self.type == "chief"
        return self.type == "worker" and self.index == 0

    @property
    def peers(self) -> list[str]:
        return [a for kind in ("chief", "worker") for a in self.cluster.get(kind, []) if a != self.address]


def _address(kind: str, value) -> str:
    if not isinstance(value, str) or value.count(":") < 1:
        raise ConfigError(f"TF_CONFIG: {kind} address {value!r} is not host:port")
    host, port = value.rsplit(":", 1)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"TF_CONFIG: {kind} address {value!r} is not host:port")
    return value


def read_tf_config(text: str | None = None) -> Task | None:
    """The task ``TF_CONFIG`` describes (None when it is unset or empty).

    Raises:
        ConfigError: malformed JSON, no cluster or task, an unknown task type,
            an index outside the cluster, an address that is not host:port.
    """
    text = os.environ.get("TF_CONFIG", "") if text is None else text
    if not text.strip():
        return None
    try:
        cfg = json.loads(text)
    except ValueError as e:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({e})") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("cluster"), dict) or not isinstance(cfg.get("task"), dict):
        raise ConfigError('TF_CONFIG needs "cluster" (task type -> addresses) and "task" (type, index)')
    cluster = cfg["cluster"]
    for kind, addrs in cluster.items():
        if kind not in ("chief", "worker", "evaluator", "ps"):
            raise ConfigError(f"TF_CONFIG: unknown task type {kind!r} in cluster")
        if kind in ("evaluator", "ps"):
            raise ConfigError(f"TF_CONFIG: {kind!r} tasks are not used by --strategy multiworker")
        if not isinstance(addrs, list) or not addrs:
            raise ConfigError(f"TF_CONFIG: cluster {kind!r} must be a non-empty list of host:port")
        for a in addrs:
            _address(kind, a)
    if len(cluster.get("chief", [])) > 1:
        raise ConfigError("TF_CONFIG: at most one chief")
    all_addrs = [a for v in cluster.values() for a in v]
    if len(set(all_addrs)) != len(all_addrs):
        raise ConfigError("TF_CONFIG: an address appears twice in the cluster")
    kind, index = cfg["task"].get("type"), cfg["task"].get("index", 0)
    if kind not in cluster:
        raise ConfigError(f"TF_CONFIG: task type {kind!r} is not in the cluster ({', '.join(cluster)})")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[kind]):
        raise ConfigError(f"TF_CONFIG: task index {index!r} is outside the cluster's {len(cluster[kind])} {kind}(s)")
    return Task(kind, index, cluster, cluster[kind][index])


def peer_timeout() -> float:
    """``FER_PEER_TIMEOUT`` seconds, or the default."""
    raw = os.environ.get("FER_PEER_TIMEOUT", "")
    try:
        value = float(raw) if raw else DEFAULT_PEER_TIMEOUT
    except ValueError:
        raise ConfigError(f"FER_PEER_TIMEOUT must be a number of seconds (got {raw!r})") from None
    if value <= 0:
        raise ConfigError("FER_PEER_TIMEOUT must be positive")
    return value


def wait_for_peers(task: Task, timeout: float) -> None:
    """Return when every peer accepts a TCP connection; PeerError after ``timeout`` seconds.

    Meanwhile this task listens on its own port, so peers that check first find it."""
    listener = None
    try:
        listener = socket.create_server(("", int(task.address.rsplit(":", 1)[1])), reuse_port=False)
    except OSError:
        pass      # the port is busy (our own server is up already): peers will find that
    try:
        deadline = time.monotonic() + timeout
        for addr in task.peers:
            host, port = addr.rsplit(":", 1)
            while True:
                try:
                    with socket.create_connection((host, int(port)), timeout=2.0):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise PeerError(f"worker {addr} did not answer within {timeout:.0f}s "
                                        f"(is it started, with the same TF_CONFIG cluster?)") from None
                    time.sleep(0.5)
    finally:
        if listener is not None:
            listener.close()


def strategy(task: Task | None):
    """``MultiWorkerMirroredStrategy`` for this task, once its peers answer.

    TensorFlow's constructor waits for every worker without a limit, so a
    watchdog ends the process (one line, exit code 6) if it takes longer than
    the peer timeout."""
    import tensorflow as tf  # deferred: TensorFlow is heavy and only needed here

    if task is None:
        raise ConfigError("--strategy multiworker needs TF_CONFIG (cluster and task): "
                          "see docs/training.md, Training on several hosts")
    timeout = peer_timeout()
    wait_for_peers(task, timeout)

    def give_up():
        print(f"error: the workers did not all join within {timeout:.0f}s (FER_PEER_TIMEOUT)", file=sys.stderr,
              flush=True)
        os._exit(PeerError.exit_code)

    watchdog = threading.Timer(timeout, give_up)
    watchdog.daemon = True
    watchdog.start()
    try:
        opts = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=opts)
    finally:
        watchdog.cancel()


def is_peer_failure(e: BaseException) -> bool:
    """Whether ``e`` is TensorFlow saying a collective with a peer failed or timed out."""
    import tensorflow as tf  # deferred: TensorFlow is heavy and only needed here

    return isinstance(e, (tf.errors.DeadlineExceededError, tf.errors.UnavailableError, tf.errors.CancelledError,
                          tf.errors.AbortedError))


class WriteTarget:
    """Where this process writes the run: the run folder on the chief (or a
    single process), a temporary folder on the other workers (removed on close)."""

    def __init__(self, out: Path, task: Task | None):
        self.run, self.task = Path(out), task
        self.chief = task is None or task.is_chief
        self.path = self.run if self.chief else Path(tempfile.mkdtemp(prefix=f"fer-worker{task.index}-"))

    def close(self) -> None:
        if not self.chief:
            shutil.rmtree(self.path, ignore_errors=True)
