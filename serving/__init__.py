"""The BentoML service: a thin HTTP edge over :class:`deephash.catalog.Catalog`."""
