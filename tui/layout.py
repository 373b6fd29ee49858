"""Layout constants shared by the app and its screens."""

WIDE = 120  # columns from which screens lay out side by side (the app's -wide breakpoint class)
