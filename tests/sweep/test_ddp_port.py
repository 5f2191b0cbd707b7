"""Each DDP job of a multirun meets on a port no outgoing connection can take first."""

import socket

from fivestep.sweep.ddp_relaunch import ephemeral_range, meeting_port


def test_the_meeting_port_is_free_below_the_ephemeral_range_and_not_the_last_jobs():
    low, high = ephemeral_range()
    assert 1024 < low < high
    first = meeting_port()
    assert first is not None and 10_000 <= first < low
    ports = {meeting_port(avoid={first}) for _ in range(20)}
    assert first not in ports and all(p is not None and p < low for p in ports)
    with socket.socket() as s:  # free: rank 0's store can bind it
        s.bind(("", first))


def test_a_port_in_use_is_never_chosen(monkeypatch):
    with socket.socket() as held:
        held.bind(("", 0))
        held.listen()
        taken = held.getsockname()[1]
        # only two candidates: the taken one and one above it
        monkeypatch.setattr("fivestep.sweep.ddp_relaunch.ephemeral_range",
                            lambda: (taken + 2, 60999))
        monkeypatch.setattr("random.Random.randrange", lambda self, a, b: taken)
        assert meeting_port(tries=5) is None  # every probe finds it taken
