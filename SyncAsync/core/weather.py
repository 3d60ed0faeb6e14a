"""open-meteo's forecast and geocoding APIs as Pydantic models: the query /weather takes, the requests we send,
the answers we accept, and the report both servers return. Built and parsed here only; no I/O."""

import logging
import math
from dataclasses import dataclass
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from SyncAsync.core.answers import ApiError


FORECAST_PATH = "/v1/forecast"
GEOCODING_PATH = "/v1/search"
CURRENT = "temperature_2m,relative_humidity_2m,wind_speed_10m,weather_code"
COORDINATE_PLACES = 2  # forecasts and the cache are keyed by coordinates rounded to about a kilometre
MAX_CITY = 100
log = logging.getLogger("weather")
Model = TypeVar("Model", bound=BaseModel)

Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Label = Annotated[str, Field(max_length=200)]


class WeatherQuery(BaseModel):
    """What /weather takes: a city, or a latitude and a longitude."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    latitude: Latitude | None = None
    longitude: Longitude | None = None
    city: Annotated[str, Field(min_length=1, max_length=MAX_CITY)] | None = None

    @model_validator(mode="after")
    def one_place(self) -> "WeatherQuery":
        has_coordinates = self.latitude is not None and self.longitude is not None
        if (self.city is None) == (not has_coordinates) or (self.latitude is None) != (self.longitude is None):
            raise ValueError("give either city, or latitude and longitude")
        if self.city is not None and not self.city.strip():
            raise ValueError("city is empty")
        return self


class Coordinates(BaseModel):
    model_config = ConfigDict(frozen=True)

    latitude: Latitude
    longitude: Longitude

    def rounded(self) -> "Coordinates":
        return Coordinates(
            latitude=round(self.latitude, COORDINATE_PLACES), longitude=round(self.longitude, COORDINATE_PLACES)
        )


class Current(BaseModel):
    """The current conditions we ask for (`current=` in the request)."""

    time: Label
    temperature_2m: float
    relative_humidity_2m: float
    wind_speed_10m: float
    weather_code: int


class ForecastAnswer(BaseModel):
    """open-meteo's forecast answer: the parts we use."""

    latitude: Latitude
    longitude: Longitude
    elevation: float | None = None
    timezone: Label = "GMT"
    current_units: dict[Label, Label] = Field(max_length=20)
    current: Current


class Place(BaseModel):
    """One geocoding result."""

    name: Label
    latitude: Latitude
    longitude: Longitude
    country: Label | None = None
    admin1: Label | None = None
    timezone: Label | None = None


class GeocodingAnswer(BaseModel):
    """open-meteo's geocoding answer; without `results` when nothing matched."""

    results: list[Place] = Field(default_factory=list, max_length=10)


class Refusal(BaseModel):
    """open-meteo's error shape: `{"error": true, "reason": "..."}` with status 400."""

    error: Literal[True]
    reason: Annotated[str, Field(max_length=1000)]


class WeatherReport(BaseModel):
    """What /weather answers on both servers."""

    place: Place | None
    latitude: float
    longitude: float
    elevation: float | None
    timezone: str
    current: Current
    units: dict[str, str]


@dataclass(frozen=True)
class UpstreamRequest:
    """One GET to open-meteo: its URL, its query parameters, and what it asks (for logs and errors)."""

    what: Literal["forecast", "geocoding"]
    url: str
    params: tuple[tuple[str, str], ...]


def forecast_request(base_url: str, where: Coordinates) -> UpstreamRequest:
    params = (("latitude", f"{where.latitude:g}"), ("longitude", f"{where.longitude:g}"), ("current", CURRENT))
    return UpstreamRequest("forecast", base_url.rstrip("/") + FORECAST_PATH, params)


def geocoding_request(base_url: str, city: str) -> UpstreamRequest:
    params = (("name", city), ("count", "1"), ("language", "en"), ("format", "json"))
    return UpstreamRequest("geocoding", base_url.rstrip("/") + GEOCODING_PATH, params)


def city_key(city: str) -> str:
    """The cache key of a city name: case and surrounding blanks do not make another city."""
    return " ".join(city.split()).casefold()


def parse_answer(model: type[Model], body: bytes, what: str) -> Model:
    """The upstream's body parsed into the model, or a 502 ApiError when it is not what the API documents."""
    try:
        parsed = model.model_validate_json(body)
    except ValidationError:
        raise ApiError(502, f"the weather service's {what} answer cannot be read") from None
    log.info("%s %r", model.__name__, parsed)
    return parsed


def refusal_reason(body: bytes) -> str:
    """The reason in open-meteo's 400 answer, or a general one when the answer is not of that shape."""
    try:
        return Refusal.model_validate_json(body).reason
    except ValidationError:
        return "no reason given"


def report(place: Place | None, forecast: ForecastAnswer) -> WeatherReport:
    return WeatherReport(
        place=place,
        latitude=forecast.latitude,
        longitude=forecast.longitude,
        elevation=None if forecast.elevation is None or math.isnan(forecast.elevation) else forecast.elevation,
        timezone=forecast.timezone,
        current=forecast.current,
        units=forecast.current_units,
    )
