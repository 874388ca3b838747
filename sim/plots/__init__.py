"""Figures from result rows (CSV): the paper style, labels with units, and the
``clustersim plot`` figure. Nothing here imports the engine."""
