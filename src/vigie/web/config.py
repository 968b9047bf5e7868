"""The console's own knobs, from the environment like the centre's (prefix `VIGIE_`)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    """Base-map tiles: an OpenStreetMap tile server in production; none means a plain background
    with the bundled départements outline, so the map never depends on the internet."""

    model_config = SettingsConfigDict(env_prefix="VIGIE_", extra="ignore")

    tile_url: str = ""  # e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png
    tile_attribution: str = "© OpenStreetMap contributors"
    # An address search the centre asks on the operator's behalf (the browser talks to the
    # centre only): a Nominatim `/search` or an addok `/search/` (the BAN's engine) URL.
    geocoder_url: str = ""


@lru_cache(maxsize=1)
def console_settings() -> ConsoleSettings:
    """Read once per process, like the centre's settings (tests clear the cache)."""
    return ConsoleSettings()
