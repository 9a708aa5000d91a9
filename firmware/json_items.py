# A JSON file whose one big array is neither parsed as a whole nor held as
# text: hundreds of meters as dicts would take more heap than an ESP32 has
# to spare (about 300 bytes each on the unix port; README, "Memory"), and
# their 16 KB of text in one block may not be found in a heap that has run
# for days. load() parses the rest of the object and leaves that array as
# an Items, which reads the file again in small pieces whenever it is
# iterated and parses one element at a time. json.loads judges every piece,
# so text that is not JSON is refused as json.loads refuses it.
import json

_PIECE = 512


def _open(src):
    """src: a path, or the text itself (bytes)."""
    if isinstance(src, bytes):
        import io
        return io.BytesIO(src)
    return open(src, "rb")


class Items:
    """The JSON array at [start, end) of src (see _open), its elements
    parsed one at a time while it is iterated (each a fresh object:
    changes are not kept); fn, when given, is applied to each."""

    def __init__(self, src, start, end, fn=None, stamp=None):
        self.src = src
        self.start = start
        self.end = end
        self.fn = fn
        self.stamp = _stamp(src) if stamp is None else stamp

    def _texts(self):
        # the offsets hold for the file as load() read it: one replaced
        # since (PUT /api/config while GET streams it) is refused, not cut
        # at the wrong places
        if _stamp(self.src) != self.stamp:
            raise ValueError("%s changed while it was read" % self.src)
        with _open(self.src) as f:
            yield from _elements(f, self.start, self.end)

    def __iter__(self):
        for text in self._texts():
            item = json.loads(text)
            yield item if self.fn is None else self.fn(item)

    def __len__(self):
        n = 0
        for _ in self._texts():
            n += 1
        return n

    def mapped(self, fn):
        """The same array, fn applied to each item (api.json_response
        writes an object with mapped() as an array, item by item)."""
        return Items(self.src, self.start, self.end, fn, self.stamp)


def _stamp(src):
    """A path's (size, modification time); None for text."""
    if isinstance(src, bytes):
        return None
    import os
    st = os.stat(src)
    return (st[6], st[8])


def _span(f, key):
    """(start, end) of the array under key (bytes) in the JSON object in
    file f (the last one, as json.loads keeps), or None. Strings are
    skipped; the top-level ones are kept as read, the key among them."""
    depth = pos = 0
    text = esc = colon = False
    name = None  # a top-level string being read
    last = b""  # the last top-level string read: the key when ":" follows
    start = -1
    found = None
    while True:
        piece = f.read(_PIECE)
        if not piece:
            return found
        for i in range(len(piece)):
            c = piece[i]
            if text:
                if esc:
                    esc = False
                elif c == 92:  # backslash
                    esc = True
                elif c == 34:
                    text = False
                    if name is not None:
                        last = bytes(name)
                        name = None
                        continue
                if name is not None:
                    name.append(c)
                continue
            if colon and c not in b" \t\r\n":
                colon = False
                if last == key:
                    if c == 91:  # "[" begins the array looked for
                        start = pos + i
                    else:  # a later value that is no array is the one json.loads keeps
                        found = None
            if c == 34:
                text = True
                name = bytearray() if depth == 1 else None
            elif c == 91 or c == 123:
                depth += 1
            elif c == 93 or c == 125:
                depth -= 1
                if depth == 1 and start >= 0:
                    found = (start, pos + i + 1)
                    start = -1
            elif c == 58 and depth == 1:  # ":"
                colon = True
        pos += len(piece)


def _elements(f, start, end):
    """The text of each element of the JSON array at [start, end) of file f.
    An empty one ("[1, ]") is passed over where json.loads takes it
    (MicroPython's does), else refused."""
    f.seek(start + 1)
    pos = start + 1
    depth = 0
    text = esc = comma = False
    empty_ok = None
    item = bytearray()
    while pos < end - 1:  # up to the closing "]"
        piece = f.read(min(_PIECE, end - 1 - pos))
        if not piece:
            raise ValueError("file shorter than its array")
        a = 0
        for i in range(len(piece)):
            c = piece[i]
            if text:
                if esc:
                    esc = False
                elif c == 92:
                    esc = True
                elif c == 34:
                    text = False
            elif c == 34:
                text = True
            elif c == 91 or c == 123:
                depth += 1
            elif c == 93 or c == 125:
                depth -= 1
            elif c == 44 and depth == 0:  # "," ends an element
                item += piece[a:i]
                if bytes(item).strip():
                    yield item
                else:
                    empty_ok = _empty_ok(empty_ok)
                item = bytearray()
                a = i + 1
                comma = True
        item += piece[a:]
        pos += len(piece)
    if bytes(item).strip():
        yield item
    elif comma:  # "[1, ]"
        _empty_ok(empty_ok)


def _empty_ok(known):
    """True when json.loads takes an array with an empty element, else ValueError."""
    if known is None:
        json.loads("[1,,]")  # ValueError on CPython
    return True


def load(src, key):
    """json.loads of the JSON in src (a path or bytes; ValueError when it
    is not JSON), except that an array under key in the top-level object is
    an Items, every element of it checked to be JSON."""
    with _open(src) as f:
        span = _span(f, key.encode())
        f.seek(0)
        if span is None:
            return json.loads(f.read())
        start, end = span
        head = f.read(start) + b"[]"
        f.seek(end)
        raw = json.loads(head + f.read())
    items = Items(src, start, end)
    for _ in items:  # every element is JSON (each parsed and dropped)
        pass
    raw[key] = items
    return raw
