"""The evaluation wing: one module per protocol -- ``eigen`` (KITTI, Table 1), ``make3d`` (Table 2),
``pose`` (KITTI odometry ATE), ``exact_depth`` (synthetic frames with exact depth) -- over shared
``metrics``, ``predictions`` (from a model or a file) and ``reports``.  Imports every lower wing,
serving included (it scores exported models)."""
