"""Fuzz ``fastload.image.read_header`` (libjpeg-turbo header parse, PNG IHDR, Pillow).

python tests/fuzz/fuzz_image_header.py -max_total_time=600      # or tests/fuzz/run.py
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import main  # noqa: E402


def setup():
    from fastload.image import read_header

    def target(data):
        info = read_header(data, name="fuzz")
        assert info.height > 0 and info.width > 0, info
        assert info.channels > 0, info
        return (info.format, info.channels, info.height.bit_length(), info.width.bit_length())

    return target


def seeds():
    import _seeds as s

    return s.images()


if __name__ == "__main__":
    sys.exit(main(setup, seeds))
