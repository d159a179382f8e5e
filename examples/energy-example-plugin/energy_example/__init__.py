"""An example energy source plugin: hourly grid carbon intensity."""
