"""From an image file to the engine: decoding to 8-bit RGB, a dataset's pixel pipeline for a model's
preprocessing, the decode-once cache, the feed that streams batches, and ``--limit`` sampling."""
