"""python -m api_gateway: the public endpoint (default 127.0.0.1:8776)."""

import asyncio

from ember import config, runtime
from api_gateway.service import GatewayService

DEFAULT_LISTEN = "127.0.0.1:8776"


def main() -> None:
    runtime.configure_logging()
    settings = config.parse(description="Ember API gateway", listen=DEFAULT_LISTEN)
    asyncio.run(runtime.run(settings, "gateway", GatewayService, public=True))


if __name__ == "__main__":
    main()
