"""Toolset ``calculators`` (opt-in): one ``calculate_<name>`` tool per feature calculator.

Off by default: ``run_feature_calculator`` (analytics toolset) already reaches every calculator, and
eleven built-ins plus plugins would push a full server past the ~40 tools clients handle well. Turn it
on with ``--toolsets all,calculators`` for clients that prefer one typed tool per calculator.
"""

from __future__ import annotations

from cryptoflow.server.tools_analytics import register_calculators as register

__all__ = ["register"]
