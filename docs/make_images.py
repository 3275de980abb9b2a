"""Make the images of the README from the code: `python docs/make_images.py`.

tests/test_views.py checks that the committed images are what this script draws now.
"""

import os

import numpy as np

import funcad as fa
import funcad.numpy as fnp
from funcad import lax

HERE = os.path.dirname(os.path.abspath(__file__))


def scan_loss(x):
    """A recurrence over x: c <- sin(c) * x_t, the loss sums the carries."""
    def body(c, xt):
        c = fnp.sin(c) * xt
        return c, c
    c, cs = lax.scan(body, x[0], x)
    return c + fnp.sum(cs)


def grad_scan_graph():
    """The graph of the reverse-mode program of scan_loss."""
    return fa.grad_graph(scan_loss, title="grad of a scan: forward (blue), backward (orange), "
                         "residuals (red)")(np.linspace(0.1, 0.4, 4))


IMAGES = {"images/grad_scan_graph.svg": grad_scan_graph}


def main():
    for name, make in IMAGES.items():
        path = os.path.join(HERE, name)
        make().save(path)
        print("wrote", path)


if __name__ == "__main__":
    main()
