"""The two networks of the paper: Depth-CNN (``depth_net``) and Pose-CNN (``pose_net``)."""
