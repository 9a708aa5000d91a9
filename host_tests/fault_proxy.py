"""A TCP proxy between the gateway and one of its sinks (broker, HTTP
server) that misbehaves on command, for the network fault campaign:

  pass     forwards both ways
  refuse   nothing listens: connections are refused, open ones are reset
  hang     accepts and reads, never answers; open connections go silent
  stall    the server process is wedged: nothing is accepted (the listen
           queue fills, then a connect never completes); open ones go silent

Every connection the proxy ever accepted is counted."""
import socket
import threading


class FaultProxy:
    def __init__(self, upstream_port, host="127.0.0.1"):
        self.upstream = (host, upstream_port)
        self.mode = "pass"
        self.accepted = 0
        self._lock = threading.Lock()
        self._conns = []  # [client, upstream or None, {"silent": bool}]
        self._stop = threading.Event()
        self._listener = self._listen(0)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _listen(self, port):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(1)  # a short queue: "stall" fills it at once
        s.settimeout(0.1)
        return s

    def set_mode(self, mode):
        assert mode in ("pass", "refuse", "hang", "stall"), mode
        with self._lock:
            old, self.mode = self.mode, mode
            if mode == "refuse":
                self._listener.close()
                self._listener = None
                self._close_all()
            elif mode in ("hang", "stall"):
                for c in self._conns:
                    c[2]["silent"] = True
            else:
                # back to normal: what hung or stalled is dropped (as a
                # restarted server would), a closed port listens again
                self._close_all()
                if self._listener is None:
                    self._listener = self._listen(self.port)
                if old == "stall":  # the queued connections are stale by now
                    self._listener.close()
                    self._listener = self._listen(self.port)

    def _close_all(self):
        for c in self._conns:
            for s in c[:2]:
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass
        self._conns = []

    def _accept_loop(self):
        while not self._stop.is_set():
            with self._lock:
                listener = self._listener if self.mode in ("pass", "hang") else None
            if listener is None:
                self._stop.wait(0.05)
                continue
            try:
                client, _ = listener.accept()
            except (socket.timeout, OSError):
                continue
            client.settimeout(None)
            with self._lock:
                self.accepted += 1
                mode = self.mode
            up = None
            if mode == "pass":
                try:
                    up = socket.create_connection(self.upstream, timeout=2)
                    up.settimeout(None)
                except OSError:  # the server itself is down: the client sees its connection closed
                    client.close()
                    continue
            conn = [client, up, {"silent": mode != "pass"}]
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._pump, args=(client, up, conn[2]), daemon=True).start()
            if up is not None:
                threading.Thread(target=self._pump, args=(up, client, conn[2]), daemon=True).start()

    def _pump(self, src, dst, state):
        try:
            while True:
                data = src.recv(4096)
                if not data:
                    break
                if dst is not None and not state["silent"]:
                    dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass

    def close(self):
        self._stop.set()
        with self._lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            self._close_all()
        self._thread.join(2)
