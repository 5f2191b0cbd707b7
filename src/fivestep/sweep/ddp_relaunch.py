"""DDP inside a Hydra multirun: make ranks > 0 rerun this job, not the whole sweep.

Lightning's DDP strategy starts ranks 1..N-1 by running the script again with
`sys.argv[1:]` plus `hydra.run.dir=<HydraConfig.run.dir>`. In a multirun that is
`-m` and every sweep value: each extra rank would start a sweep of its own, in
`logs/<task>/runs/<timestamp>/` folders of its own. Before `fit`, this points both
at the current job instead, so an extra rank runs exactly this job's overrides as
a single run in this job's folder (without writing `.hydra/` there: Lightning adds
`hydra.output_subdir=null`).

A second DDP job in the same sweeper process would also find the first job's
process group and the variables Lightning's launcher set (`LOCAL_RANK` among them,
which tells Lightning the ranks already exist), so it would start no ranks and talk
to the finished ones. Those are cleared first.

Each job's ranks also meet on a port of their own, chosen here (`meeting_port`), not
by Lightning: Lightning's `find_free_network_port` binds port 0 and closes it, which
hands out a port of the kernel's ephemeral range (32768-60999 on Linux) that nothing
holds until rank 0's TCPStore listens on it. In that range any outgoing connection on
the machine may take the port as its source port meanwhile, and a rank-1 client that
tries the port before rank 0 listens can be given it as its own source port and
connect to itself (TCP simultaneous open): it then waits for a store that is itself,
and the job hangs in its rendezvous (the 2-process gloo job of a multirun did, once
in CI). A port below the ephemeral range, free when probed (no listener, no
TIME_WAIT connection of an earlier job), and never the previous job's, has neither
problem. The port is logged for each job.
"""

import logging
import os
import random
import socket
import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import open_dict, read_write

# set in the sweeper process by Lightning's subprocess launcher for its children
_LAUNCHER_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
_launched_in_this_process = False
_ports_used: list[int] = []  # the ports this process's jobs met on, newest last

log = logging.getLogger(__name__)


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range of source ports for outgoing connections (Linux's default elsewhere)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def meeting_port(avoid: set[int] = frozenset(), tries: int = 200) -> int | None:
    """A free TCP port below the ephemeral range (and not in `avoid`); `None` if none is
    found in `tries` random probes. The probe binds without `SO_REUSEADDR`, so a port
    with a listener or with connections in TIME_WAIT counts as taken."""
    low = ephemeral_range()[0]
    if low <= 10_000:
        return None  # no room below it: leave the choice to Lightning
    rng = random.Random()  # seeded from the OS: two sweeps on one machine pick apart
    for _ in range(tries):
        port = rng.randrange(10_000, low)
        if port in avoid:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("", port))
            except OSError:
                continue
        return port
    return None


def relaunch_ranks_as_this_job(world_size: int) -> None:
    """In a multirun job with `world_size > 1`, rewrite what Lightning relaunches, and
    give the job's ranks a port of their own to meet on."""
    global _launched_in_this_process
    if world_size < 2 or not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return
    if _launched_in_this_process:  # an earlier job's ranks have exited: start afresh
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        for name in _LAUNCHER_ENV:
            os.environ.pop(name, None)
    _launched_in_this_process = True
    if "LOCAL_RANK" not in os.environ and "MASTER_PORT" not in os.environ:
        # Lightning starts the ranks (not torchrun or SLURM, and no port given)
        port = meeting_port(avoid=set(_ports_used))
        if port is not None:
            os.environ["MASTER_PORT"] = str(port)
            _ports_used.append(port)
            log.info("DDP: the ranks of job %s meet on port %d", hydra_cfg.job.num, port)
    sys.argv = [sys.argv[0], *hydra_cfg.overrides.task]
    with read_write(hydra_cfg), open_dict(hydra_cfg):
        hydra_cfg.run.dir = hydra_cfg.runtime.output_dir
