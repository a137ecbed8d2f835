"""What the Python benchmark scripts share: a process's resident memory and
a free local port. Each script runs as `python3 bench/<script>.py`, which
puts bench/ on the import path."""
import socket


def rss_kib(pid, field="VmRSS:"):
    """Resident memory of `pid` in KiB; `RssAnon:` leaves out the binary's
    own code and other file-backed pages (which the first requests page in,
    and the kernel may drop at any time)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(f"no {field}")


def free_port():
    """A TCP port free on 127.0.0.1 when asked."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
