"""The exchange simulator: a synthetic market served over each venue's real protocol on loopback."""
