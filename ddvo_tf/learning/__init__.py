"""The learning wing: the paper's networks and training objective, and the loop that fits them.

``config`` (every option, TensorFlow-free), ``depth_net`` / ``pose_net`` (the two CNNs),
``precision`` (mixed-precision policy scope), ``losses`` (Section 4), ``learner`` (one train
step per mode), ``training`` (the loop), ``monitoring`` (the collapse watch of its progress
line), ``checkpoints`` (resume and initialisation), ``distribute`` (``tf.distribute``) and
``runs`` (a finished run read back).  Imports the core and data wings only.
"""
