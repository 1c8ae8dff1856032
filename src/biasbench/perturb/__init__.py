"""Image perturbations in [0,1] pixel space (applied before the model's normalisation), and the pure math of the
critical-band measurement (thresholds, channel fit) that the probe, the command and the plots share."""
