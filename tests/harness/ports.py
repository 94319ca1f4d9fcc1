"""TCP port checks for tests/run's registry.

Usage: ports.py free HOST PORT   exit 0 if a server could listen on HOST:PORT now
       ports.py pick HOST        print a port the kernel says is free on HOST

Standard library only.
"""
import socket
import sys


def bindable(host, port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As the registry (Go) binds: connections of an earlier run still in
        # TIME_WAIT must not count as "in use", a listener must.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            s.listen(1)
        except OSError:
            return False
        return True


def pick(host):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def main(argv):
    if argv[1] == "free":
        return 0 if bindable(argv[2], int(argv[3])) else 1
    if argv[1] == "pick":
        print(pick(argv[2]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
