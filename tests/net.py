"""Loopback networking the tests' servers and stand-ins share."""

import http.server
import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class QuietServer(http.server.ThreadingHTTPServer):
    """A threaded loopback HTTP server whose clients may hang up mid-answer (a log stream left,
    an injected fault): that is expected, so nothing is printed and stderr stays the test's."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass
