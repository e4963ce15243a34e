"""DeFMO (deblurring of fast-moving objects) re-implemented, extended with learned losses.

A blurred image of a fast-moving object plus its background goes in; N sharp RGBA sub-frames come out.
"""

__version__ = "0.1.0"
