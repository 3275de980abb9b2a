"""Generalized convolutions in JAX (JAX's tutorial notebook), as a program.

Port of docs/notebooks/convolutions.md of github.com/jax-ml/jax (commit cec06d1,
Apache License 2.0; Copyright the JAX Authors) to funcad: every code cell, in order.
What changed:
  * imports: `jax` -> `funcad` (random, lax, jax.numpy, jax.scipy as jsp for
    jsp.stats.norm.pdf and jsp.signal.convolve).
  * matplotlib is gone (every `plt`/`ax`/`mpl` line, and the 3D cell's density-plot
    helper `make_alpha`), and so is the `scipy.datasets.face()` download: the image to
    de-noise is a deterministic smooth float64 image of shape `image_shape` (default
    96 x 128 instead of the raccoon's 768 x 1024), built with NumPy.
  * the cells run inside `main()`, which returns, per cell, the printed shapes and
    dimension numbers and, for the arrays the notebook plots, summaries computed with
    NumPy in float64 (so that JAX's and funcad's summaries add up in the same order):
    sums of absolute values and of squares per output channel and the row sums of the
    plotted slice, plus a few samples (not of the 3D output: its float32 sums of 7
    terms round differently in XLA and funcad, by up to 2 ulps, and some of its
    samples are such sums that cancel to 0 in one and 3e-8 in the other).
  * the 3D cell casts its data, `sin(2 pi x) cos(2 pi y) cos(2 pi z)` of NumPy's float64
    grid, to float32 before adding it to the float32 zeros: the notebook runs without
    x64, where jnp computes it in float32; with x64 (as these ports are recorded) it is
    float64, the sum is float64, and JAX's conv_general_dilated refuses the float64 data
    with the float32 kernel (funcad's lax promotes mixed operands instead of refusing
    them, as for its other lax functions).
  * jax.scipy.signal was missing from funcad; the port added funcad.scipy.signal
    (convolve, correlate, convolve2d, correlate2d; the direct method, as JAX's 'auto').
"""

import builtins

import numpy as np


def _summarise(result, name, a):
    """Float64 summaries of an array the notebook plots, stored as result[name + "_..."]:
    its shape, its sums of absolute values and of squares per channel (last axis), and
    the row sums of its first 2-D slice (the notebook's `out[0, :, :, 0]`), added up by
    NumPy."""
    a = np.asarray(a, np.float64)
    flat = a.reshape(-1, a.shape[-1])
    plane = a.reshape((-1,) + a.shape[-3:])[0, :, :, 0] if a.ndim >= 3 else a
    result[name + "_shape"] = list(a.shape)
    result[name + "_abssum"] = np.abs(flat).sum(0)
    result[name + "_sumsq"] = (flat ** 2).sum(0)
    result[name + "_rows"] = plane.sum(-1)


def main(image_shape=(96, 128), verbose=True):
    def print(*args):
        if verbose:
            builtins.print(*args)

    result = {}

    # --- Basic one-dimensional convolution
    from funcad import random
    import funcad.numpy as jnp

    key = random.key(1701)

    x = jnp.linspace(0, 10, 500)
    y = jnp.sin(x) + 0.2 * random.normal(key, shape=(500,))

    window = jnp.ones(10) / 10
    y_smooth = jnp.convolve(y, window, mode='same')
    result["y_smooth"] = np.asarray(y_smooth)[::5]
    result["y_smooth_sum"] = float(np.asarray(y_smooth, np.float64).sum())

    # --- Basic N-dimensional convolution
    import funcad.scipy as jsp

    # Load a sample image; compute mean() to convert from RGB to grayscale.
    # (a deterministic smooth image in place of scipy.datasets.face().mean(-1))
    h, w = image_shape
    r, c = np.mgrid[0:h, 0:w]
    image = jnp.array(127.5 + 60 * np.sin(r / 9.0) * np.cos(c / 13.0) + 0.25 * ((r + 2 * c) % 40))

    # Create a noisy version by adding random Gaussian noise
    key = random.key(1701)
    noisy_image = image + 50 * random.normal(key, image.shape)

    # Smooth the noisy image with a 2D Gaussian smoothing kernel.
    x = jnp.linspace(-3, 3, 7)
    window = jsp.stats.norm.pdf(x) * jsp.stats.norm.pdf(x[:, None])
    smooth_image = jsp.signal.convolve(noisy_image, window, mode='same')
    _summarise(result, "noisy_image", noisy_image)
    _summarise(result, "smooth_image", smooth_image)
    result["smooth_image_samples"] = np.asarray(smooth_image)[::17, ::19]

    # --- General convolutions
    # 2D kernel - HWIO layout
    kernel = jnp.zeros((3, 3, 3, 3), dtype=jnp.float32)
    kernel += jnp.array([[1, 1, 0],
                         [1, 0, -1],
                         [0, -1, -1]])[:, :, jnp.newaxis, jnp.newaxis]

    print("Edge Conv kernel:")
    result["kernel"] = np.asarray(kernel[:, :, 0, 0])

    # NHWC layout
    img = jnp.zeros((1, 200, 198, 3), dtype=jnp.float32)
    for k in range(3):
        x = 30 + 60*k
        y = 20 + 60*k
        img = img.at[0, x:x+10, y:y+10, k].set(1.0)

    print("Original Image:")
    _summarise(result, "img", img)

    # lax.conv and lax.conv_with_general_padding
    from funcad import lax
    out = lax.conv(jnp.transpose(img, [0, 3, 1, 2]),     # lhs = NCHW image tensor
                   jnp.transpose(kernel, [3, 2, 0, 1]),  # rhs = OIHW conv kernel tensor
                   (1, 1),  # window strides
                   'SAME')  # padding mode
    print("out shape: ", out.shape)
    print("First output channel:")
    _summarise(result, "lax_conv", jnp.transpose(out, [0, 2, 3, 1]))

    out = lax.conv_with_general_padding(
        jnp.transpose(img, [0, 3, 1, 2]),     # lhs = NCHW image tensor
        jnp.transpose(kernel, [3, 2, 0, 1]),  # rhs = OIHW conv kernel tensor
        (1, 1),  # window strides
        ((2, 2), (2, 2)),  # general padding 2x2
        (1, 1),  # lhs/image dilation
        (1, 1))  # rhs/kernel dilation
    print("out shape: ", out.shape)
    print("First output channel:")
    _summarise(result, "lax_conv_with_general_padding", jnp.transpose(out, [0, 2, 3, 1]))

    # Dimension Numbers define dimensional layout for conv_general_dilated
    dn = lax.conv_dimension_numbers(img.shape,     # only ndim matters, not shape
                                    kernel.shape,  # only ndim matters, not shape
                                    ('NHWC', 'HWIO', 'NHWC'))  # the important bit
    print(dn)
    result["dn_2d"] = [list(d) for d in dn]

    # SAME padding, no stride, no dilation
    out = lax.conv_general_dilated(img,     # lhs = image tensor
                                   kernel,  # rhs = conv kernel tensor
                                   (1, 1),  # window strides
                                   'SAME',  # padding mode
                                   (1, 1),  # lhs/image dilation
                                   (1, 1),  # rhs/kernel dilation
                                   dn)      # dimension_numbers = lhs, rhs, out dim. permutation
    print("out shape: ", out.shape)
    print("First output channel:")
    _summarise(result, "same", out)

    # VALID padding, no stride, no dilation
    out = lax.conv_general_dilated(img,      # lhs = image tensor
                                   kernel,   # rhs = conv kernel tensor
                                   (1, 1),   # window strides
                                   'VALID',  # padding mode
                                   (1, 1),   # lhs/image dilation
                                   (1, 1),   # rhs/kernel dilation
                                   dn)       # dimension_numbers = lhs, rhs, out dim. permutation
    print("out shape: ", out.shape, "DIFFERENT from above!")
    print("First output channel:")
    _summarise(result, "valid", out)

    # SAME padding, 2,2 stride, no dilation
    out = lax.conv_general_dilated(img,     # lhs = image tensor
                                   kernel,  # rhs = conv kernel tensor
                                   (2, 2),  # window strides
                                   'SAME',  # padding mode
                                   (1, 1),  # lhs/image dilation
                                   (1, 1),  # rhs/kernel dilation
                                   dn)      # dimension_numbers = lhs, rhs, out dim. permutation
    print("out shape: ", out.shape, " <-- half the size of above")
    print("First output channel:")
    _summarise(result, "same_stride2", out)

    # VALID padding, no stride, rhs kernel dilation ~ Atrous convolution
    # (excessive to illustrate)
    out = lax.conv_general_dilated(img,       # lhs = image tensor
                                   kernel,    # rhs = conv kernel tensor
                                   (1, 1),    # window strides
                                   'VALID',   # padding mode
                                   (1, 1),    # lhs/image dilation
                                   (12, 12),  # rhs/kernel dilation
                                   dn)        # dimension_numbers = lhs, rhs, out dim. permutation
    print("out shape: ", out.shape)
    print("First output channel:")
    _summarise(result, "valid_rhs_dilation", out)

    # VALID padding, no stride, lhs=input dilation  ~ Transposed Convolution
    out = lax.conv_general_dilated(img,               # lhs = image tensor
                                   kernel,            # rhs = conv kernel tensor
                                   (1, 1),            # window strides
                                   ((0, 0), (0, 0)),  # padding mode
                                   (2, 2),            # lhs/image dilation
                                   (1, 1),            # rhs/kernel dilation
                                   dn)       # dimension_numbers = lhs, rhs, out dim. permutation
    print("out shape: ", out.shape, "<-- larger than original!")
    print("First output channel:")
    _summarise(result, "valid_lhs_dilation", out)

    # The following is equivalent to tensorflow:
    # N,H,W,C = img.shape
    # out = tf.nn.conv2d_transpose(img, kernel, (N,2*H,2*W,C), (1,2,2,1))

    # transposed conv = 180deg kernel rotation plus LHS dilation
    # rotate kernel 180deg:
    kernel_rot = jnp.rot90(jnp.rot90(kernel, axes=(0, 1)), axes=(0, 1))
    # need a custom output padding:
    padding = ((2, 1), (2, 1))
    out = lax.conv_general_dilated(img,         # lhs = image tensor
                                   kernel_rot,  # rhs = conv kernel tensor
                                   (1, 1),      # window strides
                                   padding,     # padding mode
                                   (2, 2),      # lhs/image dilation
                                   (1, 1),      # rhs/kernel dilation
                                   dn)          # dimension_numbers = lhs, rhs, out dim. permutation
    print("out shape: ", out.shape, "<-- transposed_conv")
    print("First output channel:")
    _summarise(result, "transposed_conv", out)

    # --- 1D Convolutions
    # 1D kernel - WIO layout
    kernel = jnp.array([[[1, 0, -1], [-1,  0,  1]],
                        [[1, 1,  1], [-1, -1, -1]]],
                       dtype=jnp.float32).transpose([2, 1, 0])
    # 1D data - NWC layout
    data = np.zeros((1, 200, 2), dtype=jnp.float32)
    for i in range(2):
        for k in range(2):
            x = 35*i + 30 + 60*k
            data[0, x:x+30, k] = 1.0

    print("in shapes:", data.shape, kernel.shape)
    result["in_shapes_1d"] = [list(data.shape), list(kernel.shape)]

    dn = lax.conv_dimension_numbers(data.shape, kernel.shape,
                                    ('NWC', 'WIO', 'NWC'))
    print(dn)
    result["dn_1d"] = [list(d) for d in dn]

    out = lax.conv_general_dilated(data,    # lhs = image tensor
                                   kernel,  # rhs = conv kernel tensor
                                   (1,),    # window strides
                                   'SAME',  # padding mode
                                   (1,),    # lhs/image dilation
                                   (1,),    # rhs/kernel dilation
                                   dn)      # dimension_numbers = lhs, rhs, out dim. permutation
    print("out shape: ", out.shape)
    result["conv_1d"] = np.asarray(out[0])

    # --- 3D Convolutions
    # Random 3D kernel - HWDIO layout
    kernel = jnp.array([
      [[0, 0,  0], [0,  1,  0], [0,  0,   0]],
      [[0, -1, 0], [-1, 0, -1], [0,  -1,  0]],
      [[0, 0,  0], [0,  1,  0], [0,  0,   0]]],
      dtype=jnp.float32)[:, :, :, jnp.newaxis, jnp.newaxis]

    # 3D data - NHWDC layout
    data = jnp.zeros((1, 30, 30, 30, 1), dtype=jnp.float32)
    x, y, z = np.mgrid[0:1:30j, 0:1:30j, 0:1:30j]
    data += (jnp.sin(2*x*jnp.pi)*jnp.cos(2*y*jnp.pi)*jnp.cos(2*z*jnp.pi)
             ).astype(jnp.float32)[None, :, :, :, None]  # (float32 cast: see header)

    print("in shapes:", data.shape, kernel.shape)
    dn = lax.conv_dimension_numbers(data.shape, kernel.shape,
                                    ('NHWDC', 'HWDIO', 'NHWDC'))
    print(dn)
    result["dn_3d"] = [list(d) for d in dn]

    out = lax.conv_general_dilated(data,       # lhs = image tensor
                                   kernel,     # rhs = conv kernel tensor
                                   (1, 1, 1),  # window strides
                                   'SAME',     # padding mode
                                   (1, 1, 1),  # lhs/image dilation
                                   (1, 1, 1),  # rhs/kernel dilation
                                   dn)         # dimension_numbers
    print("out shape: ", out.shape)
    _summarise(result, "data_3d", data)
    _summarise(result, "conv_3d", out)
    # dtypes as bits per element (float64 in x64 where the notebook mixes float32 and 64)
    result["dtype_bits"] = [8 * a.dtype.itemsize for a in (y_smooth, smooth_image, img, data, out)]
    return result
