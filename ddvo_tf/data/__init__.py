"""The data wing: a 3-frame clip's TFRecord schema (``records``) and its ``tf.data`` reader.

``records`` is what ``pipelines`` writes; ``reader`` serves training and scoring.  Imports only the
core wing."""
