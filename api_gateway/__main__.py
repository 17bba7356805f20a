"""python -m api_gateway: the public endpoint (default 127.0.0.1:8776)."""

from api_gateway.service import GatewayService
from ember import config, runtime

if __name__ == "__main__":
    runtime.main("gateway", "Ember API gateway", GatewayService, public=True, listen=config.GATEWAY_ADDRESS)
