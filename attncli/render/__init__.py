"""The terminal views: one module per command's view (explain, heads, compare, weights), the
drawing pieces they share (widgets) and the console with its SVG/HTML/TXT export (console).

A view reads a result the layers below computed; it computes nothing and raises nothing."""
