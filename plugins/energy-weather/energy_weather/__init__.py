"""Open-Meteo weather source for energy.

Import the components from their modules (``source``, ``normalize``, ``simulator``); loading the
plugin (``plugin``) imports none of them until a hook asks.
"""
