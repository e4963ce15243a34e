"""Folder names of the FMO benchmark's on-disk layout that both the data phase (which renders embedded sequences
in it) and the loaders (which read the real datasets and the embedded ones) use."""

ALPHA_DIR = "imgs_gt_alpha"  # GT alpha of the high-speed frames (embedded synthetic data only)
