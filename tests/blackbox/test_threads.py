"""The bcrypt threads run at a lower priority than the rest of droplin (BCRYPT_NICE in
droplin.c), so that password hashes queue behind the event loop, the workers and PostgreSQL
on a busy machine instead of the other way round."""

import glob

from auth_helpers import start


def thread_nices(pid):
    nices = []
    for stat in glob.glob(f"/proc/{pid}/task/*/stat"):
        with open(stat) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        nices.append(int(fields[16]))  # field 19 of proc(5), counted after "pid (comm)"
    return nices


def test_bcrypt_threads_are_niced_and_nothing_else(droplin):
    d = start(droplin, BCRYPT_THREADS="3")
    nices = thread_nices(d.proc.pid)
    assert sorted(nices).count(10) == 3, nices
    assert all(n in (0, 10) for n in nices), nices
    assert nices.count(0) >= 4, nices  # the loop, workers, outbound, probe, mail
