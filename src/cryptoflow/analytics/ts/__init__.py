"""Time-series engine over any stored series (price, spread, funding, OI, volume, liquidations).

Pure functions over a 1-D array (plus optional int-ns times): ``anomalies`` (z-score, IQR,
isolation forest, CUSUM, ensemble vote), ``changepoints`` (CUSUM, binary segmentation, PELT),
``seasonality`` (FFT periodogram, STL), ``features`` (40+ descriptive features). Each returns an
explained ``analytics.explain.Result``. Heavy libraries (scikit-learn, ruptures, statsmodels)
are imported inside the functions that use them.
"""

from __future__ import annotations
