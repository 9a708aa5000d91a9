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


def write_atomic(path, data, dump=None):
    """Replace path with data (str or bytes), or with dump(data, file)."""
    tmp = path + ".new"
    with open(tmp, "wb" if isinstance(data, (bytes, bytearray)) else "w") as f:
        if dump is None:
            f.write(data)
        else:
            dump(data, f)
        _sync(f)
    try:
        os.rename(tmp, path)
    except OSError:
        # FAT refuses to rename onto an existing file; the complete .new is
        # picked up by recover() if the power fails between these two steps.
        os.remove(path)
        os.rename(tmp, path)


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
