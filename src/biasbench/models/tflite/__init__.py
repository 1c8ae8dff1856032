"""``tflite:PATH`` models: quantized TFLite ImageNet classifiers converted into float, differentiable torch modules.

The flatbuffer is parsed with the ``tflite`` package (the TFLite schema compiled for Python). Every quantized
weight is dequantised (``scale * (q - zero_point)``, per tensor or per output channel), every operator becomes a
small torch module (convolutions are real ``nn.Conv2d``s, so probes that reset layers find them), and the graph
runs in float. Activations are *not* re-quantised, so outputs differ slightly from the integer interpreter;
top-1 agrees on all the coral test photos (see tests/models/test_tflite.py).

Conventions of the converted model:
- Input: the [0,1] RGB that every biasbench model takes; the input quantisation becomes the Classifier's
  mean/std (``float = scale * (255 x - zero_point)``, i.e. mean = zp/255, std = 1/(255 scale); about 0.5/0.5).
- Output: logits. A softmax that ends the graph (possibly followed by a QUANTIZE) is dropped, so the model
  returns the pre-softmax values. A 1001-way output (index 0 = "background", the TF-slim convention) is cut to
  the 1000 ImageNet classes.
- Preprocess: the model's own input size, crop_pct 0.875 (timm's rule: resize the shorter side to
  floor(size / 0.875), e.g. 182 for a 160 input), centre crop, bilinear; ``?crop_pct=`` overrides it.
- ``?quantize_activations=true`` rounds every activation to its integer grid (straight-through gradients) to
  follow the integer interpreter more closely; the default is the plain float graph.
"""
