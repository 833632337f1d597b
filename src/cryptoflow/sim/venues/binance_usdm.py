"""Simulated Binance USD-M futures (routed /public and /market paths, like the real venue)."""

from cryptoflow.sim.venues.binance_common import BinanceSim


class BinanceUsdmSim(BinanceSim):
    venue_id = "binance_usdm"
    ws_paths = {"public": "/public/stream", "market": "/market/stream"}
    futures = True
    depth_path = "/fapi/v1/depth"
    exchange_info_path = "/fapi/v1/exchangeInfo"


SIM_VENUE = BinanceUsdmSim
