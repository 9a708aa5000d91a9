"""A virtual M-Bus segment for tests, demos and benchmarks (host code, CPython).

telegrams  load and rewrite reply telegrams (header, A field, checksum)
line       the line itself: UART bit timing and the wired AND of several slaves
slave      one meter's behaviour (link layer, selection, FCB, multi-telegram)
config     the JSON config format (see README "Simulator")
server     the TCP server, pacing and fault injection
"""
