"""Every board file compiles with mpy-cross, for the host and for the ESP32."""
import pytest

from build_mpy import compile_one, sources

FILES = list(sources())


@pytest.mark.parametrize("arch", [None, "xtensawin"], ids=["host", "xtensawin"])
@pytest.mark.parametrize("rel", FILES)
def test_compiles(rel, arch, tmp_path):
    compile_one(rel, str(tmp_path), arch)
