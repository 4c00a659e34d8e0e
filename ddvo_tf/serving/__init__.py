"""The serving wing: what users ship and run -- the SavedModel / TFLite export of a run's Depth-CNN
(``export``) and depth pictures for images, folders and videos (``predict``).  Imports the core,
data and learning wings."""
