"""Decode-once image cache (opt-in with ``EngineConfig(cache=True)`` or ``biasbench run --cache``)."""

from biasbench.cache.decoded import DecodedCache, cache_key, decoded_cache, default_cache_dir

__all__ = ["DecodedCache", "cache_key", "decoded_cache", "default_cache_dir"]
