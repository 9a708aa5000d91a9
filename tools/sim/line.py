"""The M-Bus line as the master's UART sees it.

Each byte is 11 bits (start 0, 8 data bits LSB first, even parity, stop 1).
The line idles at 1 (mark); a slave sending a 0 (space) pulls it down, so
several slaves sending at once combine as a wired AND of their bit streams.
The master's UART then decodes whatever the combined line carries.
"""

BITS = 11


def char_bits(byte):
    """The 11 line bits of one character, in time order."""
    parity = bin(byte).count("1") & 1  # even parity: the 1s including parity are even
    return [0] + [(byte >> k) & 1 for k in range(8)] + [parity, 1]


def combine(transmissions):
    """Wired AND of [(start_bit, bytes), ...]; returns [(end_bit, byte), ...]
    as a UART receiving the line decodes it (bytes with parity or stop bit
    errors are delivered too, as most drivers do)."""
    if not transmissions:
        return []
    if len(transmissions) == 1:
        start, data = transmissions[0]
        return [(start + BITS * (i + 1), b) for i, b in enumerate(data)]
    length = max(start + BITS * len(data) for start, data in transmissions) + BITS
    line = bytearray(b"\x01") * length
    for start, data in transmissions:
        pos = start
        for b in data:
            for k, bit in enumerate(char_bits(b)):
                if not bit:
                    line[pos + k] = 0
            pos += BITS
    out = []
    pos = 0
    while pos < length - BITS:
        if line[pos]:
            pos += 1
            continue
        value = 0
        for k in range(8):
            value |= line[pos + 1 + k] << k
        out.append((pos + BITS, value))
        pos += BITS - 1  # the stop bit
        while pos < length and not line[pos]:
            pos += 1  # after a framing error the UART waits for the line to idle
    return out
