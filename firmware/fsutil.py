# Flash file helpers. Whole-file writes go to PATH.new first and are renamed
# over PATH, so a power cut leaves either the old or the new file, never half.
import os


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _sync(f):
    f.flush()
    if hasattr(f, "fileno") and hasattr(os, "fsync"):
        os.fsync(f.fileno())  # CPython
    elif hasattr(os, "sync"):
        os.sync()  # MicroPython: flush the filesystem's caches


_EEXIST = 17
last_error = None  # the last write that failed, for /api/status: "path: error"


def write_atomic(path, data, dump=None):
    """Replace path with data (str or bytes), or with dump(data, file).
    On any failure (a full flash: ENOSPC) the old file is left as it was,
    the partial .new is removed, and the error is raised and kept in
    last_error."""
    global last_error
    tmp = path + ".new"
    try:
        with open(tmp, "wb" if isinstance(data, (bytes, bytearray)) else "w") as f:
            if dump is None:
                f.write(data)
            else:
                dump(data, f)
            _sync(f)
        try:
            os.rename(tmp, path)
        except OSError as e:
            if e.args[0] != _EEXIST:
                raise
            # FAT refuses to rename onto an existing file; the complete .new is
            # picked up by recover() if the power fails between these two steps.
            os.remove(path)
            os.rename(tmp, path)
    except Exception as e:
        remove(tmp)  # half a file must never be taken for the new one
        last_error = "%s: %s" % (path, why(e))
        raise


def why(e):
    """An OSError's text, naming what MicroPython's errno table leaves as a
    number: ENOSPC (28), and the 36 LittleFS gives when a full flash has no
    room for a new file's directory entry (its ENAMETOOLONG)."""
    n = e.args[0] if e.args else None
    if n == 28:
        return "[Errno 28] ENOSPC: the flash is full"
    if n == 36:
        return "[Errno 36] no room for a new file on the flash (LittleFS's metadata is full)"
    return str(e)


def recover(path):
    """Finish a write_atomic() that a power cut interrupted after its data was safe."""
    if not exists(path) and exists(path + ".new"):
        os.rename(path + ".new", path)


def read_text(path):
    recover(path)
    with open(path) as f:
        return f.read()


def remove(path):
    try:
        os.remove(path)
    except OSError:
        pass
