"""Write the app's example photos: view 0 (the input view) of the first held-out test objects of the synthetic cars.

    python examples/make_examples.py [--count 4] [--seed 0] [--resolution 128]

Test object i of a seed is the same object (and input pose) whatever the dataset's size, so these are held-out
objects of the dataset `pix2nerf make-dataset` builds with the same seed and resolution.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parent
MAX_BYTES = 30_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resolution", type=int, default=128)
    args = parser.parse_args()
    from pix2nerf.data.synthetic.builder import build_dataset

    test = build_dataset(
        "cars",
        train_objects=1,
        test_objects=args.count,
        test_views=1,
        resolution=args.resolution,
        seed=args.seed,
        workers=1,
        progress=False,
    )["test"]
    for index, row in enumerate(test):
        path = EXAMPLES_DIR / f"car_{index}.png"
        buffer = io.BytesIO()
        row["image"].save(buffer, format="PNG", optimize=True)
        if len(buffer.getvalue()) > MAX_BYTES:
            raise SystemExit(
                f"{path.name} would be {len(buffer.getvalue()):,} bytes; examples stay under {MAX_BYTES:,}"
            )
        path.write_bytes(buffer.getvalue())
        print(
            f"wrote {path.name}: test object {index}, yaw {row['yaw']:.1f}, pitch {row['pitch']:.1f} degrees, "
            f"{len(buffer.getvalue()):,} bytes"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
