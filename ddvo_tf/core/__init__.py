"""The core wing: the geometry of the paper (Section 3) that everything else builds on, and DDVO.

``geometry`` (SE(3), projection, warps, pyramids), ``sampling`` (bilinear / bicubic lookups),
``occlusion`` (z-buffer visibility), ``robust`` (penalties, weights, scale), ``iterations`` (DDVO's
per-level budget, TensorFlow-free), ``ddvo_level`` (one pyramid level of the objective),
``ddvo_solver`` (Gauss-Newton over the pyramid, the implicit gradient) and ``ddvo_layer`` (the
Keras layer).  Nothing here imports from the other wings.
"""
