"""Where `noisegen generate` runs its shard tasks: local worker processes (joblib's loky backend) or a
Dask cluster (a LocalCluster started for the run, or a running scheduler). The tasks are
noisegen.dataset.make_shard.write_shard calls; these functions yield their ShardRecords as they finish.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator

from noisegen.dataset.make_shard import ShardRecord, ShardTask, write_shard

__all__ = ["run_local", "reachable", "dask_client", "run_dask", "close_dask"]


def run_local(tasks: Iterator[ShardTask], workers: int, on_sample: Callable[[], None],
               batch: int) -> Iterator[ShardRecord]:
    """Shards on local processes. ``batch`` consecutive shards go to one worker together: they share the
    photos at their boundaries, which the worker then decodes once (make_shard keeps the last one)."""
    if workers == 1:
        for task in tasks:
            yield write_shard(task, on_sample=on_sample)
        return
    from joblib import Parallel, delayed

    try:
        par = Parallel(n_jobs=workers, backend="loky", return_as="generator_unordered", batch_size=batch)
    except ValueError:  # joblib < 1.4
        par = Parallel(n_jobs=workers, backend="loky", return_as="generator", batch_size=batch)
    yield from par(delayed(write_shard)(t) for t in tasks)


def reachable(address: str, timeout: float = 5.0) -> None:
    """Raise ValueError unless a TCP connection to a tcp://HOST:PORT (or HOST:PORT) address opens."""
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--scheduler {address!r}: expected an address such as tcp://10.0.0.5:8786")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ValueError(f"cannot reach the Dask scheduler at {address} ({exc.strerror or exc}); start it "
                         "(`dask scheduler`) or check --scheduler; nothing was written") from None


def dask_client(workers: int, scheduler: str | None):
    """(client, cluster or None), connected before anything is written."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ValueError("backend 'dask' needs dask.distributed: pip install 'noisegen[dask]'") from None
    if scheduler:
        reachable(scheduler)
        try:
            return Client(scheduler, timeout="30s"), None
        except (OSError, TimeoutError) as exc:
            raise ValueError(f"cannot connect to the Dask scheduler at {scheduler} ({exc}); check --scheduler; "
                             "nothing was written") from None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None)
    return Client(cluster), cluster


def run_dask(tasks: Iterator[ShardTask], client, cluster) -> Iterator[ShardRecord]:
    from distributed import as_completed

    futures = []
    try:
        token = uuid.uuid4().hex[:8]
        futures = [client.submit(write_shard, t, key=f"noisegen-shard-{t.shard:06d}-{token}", pure=False)
                   for t in tasks]
        for fut in as_completed(futures):
            yield fut.result()
    finally:
        for fut in futures:
            fut.cancel()


def close_dask(client, cluster) -> None:
    client.close()
    if cluster is not None:
        cluster.close()
