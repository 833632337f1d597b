"""Simulated Binance spot."""

from cryptoflow.sim.venues.binance_common import BinanceSim


class BinanceSpotSim(BinanceSim):
    venue_id = "binance_spot"
    ws_paths = {"public": "/stream"}
    futures = False
    depth_path = "/api/v3/depth"
    exchange_info_path = "/api/v3/exchangeInfo"


SIM_VENUE = BinanceSpotSim
