"""A TCP proxy that can be cut: the network between the web tier and PostgreSQL going away for a moment.

cut() closes the listening socket and every connection through it (clients see their connections reset, then
connection refused); restore() listens again on the same port. Threads, no asyncio: the fault tests and the chaos
soak (bench/soak.py) drive it while their own threads wait on HTTP calls.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from stack.processes import free_port

HOST = "127.0.0.1"


class TcpProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port(HOST)
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._stopped = threading.Event()

    def start(self) -> TcpProxy:
        listener = socket.create_server((HOST, self.port))  # SO_REUSEADDR: the same port right after a cut
        listener.settimeout(0.2)  # so the accept loop notices a cut promptly
        self._stopped = stopped = threading.Event()
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener, stopped), daemon=True, name="proxy-accept").start()
        return self

    restore = start

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, set()
        self._stopped.set()
        if listener is not None:
            listener.close()
        for connection in connections:
            _close(connection)

    stop = cut

    def _accept(self, listener: socket.socket, stopped: threading.Event) -> None:
        while not stopped.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by cut()
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                if stopped.is_set():  # cut while this one was connecting
                    _close(client)
                    _close(upstream)
                    return
                self._connections |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True, name="proxy-pump").start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(sink)


def _close(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)  # wakes a pump blocked in recv() on it
    connection.close()
