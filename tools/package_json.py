"""Write package.json, the mip manifest of lib/mbus, from the files in lib/mbus.

    python tools/package_json.py          # rewrite it
    python tools/package_json.py --check  # exit 1 when it is out of date

Users install the library on any MicroPython board with
    mpremote mip install github:<owner>/<repo>     (or a path to package.json)
URLs are relative, so mip resolves them against wherever package.json is.
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST_ONLY = ("__main__.py", "serialport.py")  # the PC's command line and pyserial transport


def expected():
    lib = os.path.join(ROOT, "lib", "mbus")
    files = sorted(f for f in os.listdir(lib) if f.endswith(".py") and f not in HOST_ONLY)
    version = "0.0.0"
    with open(os.path.join(lib, "__init__.py")) as f:
        for line in f:
            if line.startswith("__version__"):
                version = line.split("=")[1].strip().strip("\"'")
    return {"urls": [["mbus/" + f, "lib/mbus/" + f] for f in files], "version": version}


def text():
    return json.dumps(expected(), indent=2) + "\n"


def main():
    path = os.path.join(ROOT, "package.json")
    if "--check" in sys.argv:
        current = open(path).read() if os.path.exists(path) else ""
        if current != text():
            print("package.json is out of date: run python tools/package_json.py")
            sys.exit(1)
        return
    with open(path, "w") as f:
        f.write(text())
    print("wrote", path)


if __name__ == "__main__":
    main()
