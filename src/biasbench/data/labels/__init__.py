"""What a prediction means: class vocabularies (ImageNet, the 16 model-vs-human categories, ObjectNet's mapping,
the video sets' classes, REFINED-BIAS's class groups), the label spaces that score logits in them (each
``@register_label_space``), per-image decisions made elsewhere, and class-group ranks. The label-space registry
imports every module here on its first lookup."""
