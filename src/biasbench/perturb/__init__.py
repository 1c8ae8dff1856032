"""Image perturbations in [0,1] pixel space (applied before the model's normalisation)."""
