# JSON text whose one big array is not parsed as a whole: hundreds of
# meters as dicts would take more heap than an ESP32 has to spare (about
# 300 bytes each on the unix port; README, "Memory"). loads() parses the
# rest of the object and leaves that array as an Items, whose elements are
# parsed one at a time as it is iterated. The text is scanned as bytes
# (O(1) indexing) for where the values are; json.loads judges each piece,
# so text that is not JSON is refused as json.loads refuses it.
import json


class Items:
    """A JSON array in data[start:end], its elements parsed one at a time
    while it is iterated (each a fresh object: changes are not kept); fn,
    when given, is applied to each."""

    def __init__(self, data, start, end, fn=None):
        self.data = data
        self.start = start
        self.end = end
        self.fn = fn

    def __iter__(self):
        for a, b in _elements(self.data, self.start, self.end):
            item = json.loads(self.data[a:b])
            yield item if self.fn is None else self.fn(item)

    def __len__(self):
        n = 0
        for _ in _elements(self.data, self.start, self.end):
            n += 1
        return n

    def mapped(self, fn):
        """The same array, fn applied to each item (api.json_response
        writes an object with mapped() as an array, item by item)."""
        return Items(self.data, self.start, self.end, fn)


def _ws(b, i):
    while i < len(b) and b[i] in b" \t\r\n":
        i += 1
    return i


def _string_end(b, i):
    """The index after the string that starts at b[i] (a quote)."""
    while True:
        j = b.find(b'"', i + 1)
        if j < 0:
            raise ValueError("unterminated string")
        k = j
        while b[k - 1] == 92:  # backslashes: an odd number escapes the quote
            k -= 1
        if (j - k) % 2 == 0:
            return j + 1
        i = j


def _value_end(b, i):
    """The index after the JSON value that starts at b[i] (not checked: json.loads does that)."""
    c = b[i]
    if c == 34:
        return _string_end(b, i)
    if c != 91 and c != 123:  # a number, true, false, null
        while i < len(b) and b[i] not in b" \t\r\n,]}":
            i += 1
        return i
    depth = 0
    while i < len(b):
        c = b[i]
        if c == 34:
            i = _string_end(b, i)
            continue
        if c == 91 or c == 123:
            depth += 1
        elif c == 93 or c == 125:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError("unbalanced brackets")


def _array_span(b, key):
    """(start, end) of the array under key in the JSON object text b (the
    last one, as json.loads keeps), or None: no such array, or text that
    json.loads shall judge."""
    try:
        i = _ws(b, 0)
        if b[i] != 123:
            return None
        found = None
        i = _ws(b, i + 1)
        if b[i] == 125:
            return None
        while True:
            if b[i] != 34:
                return None
            k = i
            i = _string_end(b, i)
            name = b[k + 1:i - 1]
            i = _ws(b, i)
            if b[i] != 58:  # ':'
                return None
            i = _ws(b, i + 1)
            start = i
            i = _value_end(b, i)
            if name == key:
                found = (start, i) if b[start] == 91 else None
            i = _ws(b, i)
            if b[i] == 125:
                return found
            if b[i] != 44:
                return None
            i = _ws(b, i + 1)
    except (IndexError, ValueError):
        return None


def _elements(b, start, end):
    """(start, end) of each element of the JSON array b[start:end]."""
    i = _ws(b, start + 1)
    if b[i] == 93:
        return
    while True:
        a = i
        i = _value_end(b, i)
        yield a, i
        i = _ws(b, i)
        if b[i] == 93:
            return
        if b[i] != 44:
            raise ValueError("syntax error in JSON")
        i = _ws(b, i + 1)


def loads(data, key):
    """json.loads(data) (str or bytes; ValueError when it is not JSON),
    except that an array under key in the top-level object is an Items."""
    if isinstance(data, str):
        data = data.encode()
    span = _array_span(data, key.encode())
    if span is None:
        return json.loads(data)
    start, end = span
    raw = json.loads(data[:start] + b"[]" + data[end:])
    items = Items(data, start, end)
    for _ in items:  # every element is JSON too (each parsed and dropped)
        pass
    raw[key] = items
    return raw
