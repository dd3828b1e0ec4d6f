"""Geocoding client used by the delivery service to resolve customer addresses."""

from functools import cached_property, lru_cache

import requests


class GeocodingClient:
    def __init__(self, base_url, api_key, timeout=5.0):
        self.geocode = lru_cache(maxsize=4096)(self.geocode)
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.session = requests.Session()

    def close(self):
        self.session.close()

    def geocode(self, address):
        response = self.session.get(
            f"{self.base_url}/geocode",
            params={"q": address, "key": self.api_key},
            timeout=self.timeout,
        )
        response.raise_for_status()
        payload = response.json()
        return payload["lat"], payload["lon"]

    @cached_property
    def supported_countries(self):
        response = self.session.get(f"{self.base_url}/countries", timeout=self.timeout)
        response.raise_for_status()
        return frozenset(response.json())

    def can_deliver(self, address, country):
        if country not in self.supported_countries:
            return False
        lat, lon = self.geocode(address)
        return -60.0 < lat < 75.0 and lon is not None


def plan_route(settings, stops):
    client = GeocodingClient(settings.geo_url, settings.geo_key)
    try:
        return [client.geocode(stop.address) for stop in stops]
    finally:
        client.close()
