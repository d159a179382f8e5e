"""EIA API v2 (EIA-930 hourly grid monitor) source for energy.

Import the components from their modules (``source``, ``normalize``, ``simulator``); loading the
plugin (``plugin``) imports none of them until a hook asks.
"""
