"""The dataset catalogue: what each dataset is, where it lives under the data root and how to get it — one module
per family of datasets (each ``@register_dataset``), class-folder layouts, ``labels.csv`` checks, ``folder:PATH``,
``biasbench fetch`` (downloads, archive layouts) and ``biasbench datasets`` (doctor). The dataset registry imports
every module here on its first lookup."""
