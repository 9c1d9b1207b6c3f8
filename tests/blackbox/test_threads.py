"""droplin's threads by name, and the bcrypt ones at a lower priority than the rest (BCRYPT_NICE in
droplin.c), so that password hashes queue behind the event loop, the workers and PostgreSQL
on a busy machine instead of the other way round."""

import glob
import os

import harness

from auth_helpers import start


def threads(pid):
    """(name, nice) of every thread of a process."""
    out = []
    for stat in glob.glob(f"/proc/{pid}/task/*/stat"):
        with open(stat) as f:
            text = f.read()
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        out.append((name, int(fields[16])))  # field 19 of proc(5), counted after "pid (comm)"
    return sorted(out)


def test_bcrypt_threads_are_niced_and_nothing_else(droplin):
    d = start(droplin, BCRYPT_THREADS="3", WORKER_THREADS="5", OUTBOUND_THREADS="2")
    got = threads(d.proc.pid)
    main = os.path.basename(harness.droplin_bin())[:15]  # the event loop keeps the program's name
    assert got == sorted([(main, 0)] + [("dl-worker", 0)] * 5 + [("dl-bcrypt", 10)] * 3
                         + [("dl-outbound", 0)] * 2
                         + [("dl-probe", 0), ("dl-maint", 0), ("dl-heartbeat", 0), ("dl-mail", 0),
                            ("dl-log", 0)]), got
