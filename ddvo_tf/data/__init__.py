"""The data wing: the TFRecord schema of a 3-frame clip (``records``: what ``pipelines`` writes)
and the ``tf.data`` reader training and scoring use (``reader``).  Imports only the core wing."""
