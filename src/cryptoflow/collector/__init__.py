"""Collection: config, live state, health and the collector that wires venues to the store."""

from cryptoflow.collector.config import CollectorConfig, load_config, load_endpoints
from cryptoflow.collector.core import Collector

__all__ = ["Collector", "CollectorConfig", "load_config", "load_endpoints"]
