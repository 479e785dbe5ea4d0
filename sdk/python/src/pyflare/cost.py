"""Cost of a model call, computed exactly as the PyFlare server computes it.

The prices are the server's own file (`Sources/PyFlareModel/Resources/pricing.json`), packaged
into the SDK when it is built, and the matching and rounding follow `PricingTable.swift` and
`ModelPrice.swift` step by step:

* a model name is lowercased and looked up exactly, then by the longest entry that is a prefix of
  it ending at a ``-``, ``:``, ``@``, ``.``, ``_`` or ``/`` boundary (``gpt-4o-2024-08-06`` prices
  as ``gpt-4o``); if nothing matches, provider paths (``openai/``) and vendor qualifiers
  (``us.anthropic.``) are stripped and the lookup repeated;
* input tokens include cached reads and cache writes (the OpenTelemetry GenAI convention), which
  are priced at their own rates and taken out of the input count;
* the sum, in micro-dollars (USD per million tokens x tokens), is computed in IEEE doubles in the
  server's order and rounded half away from zero.

Custom prices (``set_price``) replace or add entries, as the server's config file and
``PUT /api/v1/pricing/{model}`` do.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

__all__ = ["ModelPrice", "Cost", "PricingTable", "calculate_cost", "set_price", "get_price", "pricing_table",
           "builtin_pricing_data"]

_BOUNDARIES = frozenset(b"-:@._/")
_INT64_MAX = 9223372036854775807
_INT64_MIN = -9223372036854775808


@dataclass(frozen=True)
class ModelPrice:
    """USD per million tokens of one model (or of every model whose name starts with `model`)."""

    model: str
    input: float
    output: float
    cache_read: float | None = None  # the input price when None
    cache_write: float | None = None  # the input price when None
    provider: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", self.model.lower())
        for name in ("input", "output", "cache_read", "cache_write"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
                raise TypeError(f"ModelPrice.{name} must be a number, got {value!r}")
            if value is not None:
                object.__setattr__(self, name, float(value))

    def cost_micros(self, input_tokens: int = 0, output_tokens: int = 0, cache_read_tokens: int = 0,
                    cache_write_tokens: int = 0) -> int:
        """Micro-dollars for these counts (`input_tokens` includes the cached and cache-write ones)."""
        uncached = max(0, input_tokens - cache_read_tokens - cache_write_tokens)
        micros = (float(uncached) * self.input
                  + float(cache_read_tokens) * (self.input if self.cache_read is None else self.cache_read)
                  + float(cache_write_tokens) * (self.input if self.cache_write is None else self.cache_write)
                  + float(output_tokens) * self.output)
        return _round_saturating(micros)


def _round_saturating(value: float) -> int:
    """Swift's `Int64(saturating: value.rounded())`: half away from zero, held at the Int64 bounds."""
    if math.isnan(value):
        return 0
    if value >= 9.223372036854775807e18:
        return _INT64_MAX
    if value <= -9.223372036854775808e18:
        return _INT64_MIN
    magnitude = abs(value)
    whole = math.floor(magnitude)
    # magnitude - whole is exact in binary floating point, so the tie test is too
    rounded = int(whole) + (1 if magnitude - whole >= 0.5 else 0)
    return -rounded if value < 0 else rounded


@dataclass(frozen=True)
class Cost:
    """What one call cost: micro-dollars as the server stores them, and the price used."""

    micros: int
    price: ModelPrice

    @property
    def usd(self) -> float:
        return self.micros / 1_000_000


class PricingTable:
    """Prices looked up exactly, then by the longest prefix (the server's `PricingTable`)."""

    def __init__(self, entries: Iterable[ModelPrice] = (), version: str = "custom") -> None:
        self.version = version
        self._entries: dict[str, ModelPrice] = {}
        self._lock = threading.Lock()
        for entry in entries:
            self._entries[entry.model] = entry

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "PricingTable":
        models = data.get("models")
        if not isinstance(models, list):
            raise ValueError("pricing data has no \"models\" list")
        entries = [ModelPrice(model=m["model"], provider=m.get("provider"), input=m["input"], output=m["output"],
                              cache_read=m.get("cache_read"), cache_write=m.get("cache_write")) for m in models]
        return cls(entries, version=str(data.get("version", "custom")))

    @property
    def entries(self) -> list[ModelPrice]:
        return list(self._entries.values())

    def upsert(self, price: ModelPrice) -> None:
        """Adds `price`, or replaces the entry of the same model."""
        with self._lock:
            entries = dict(self._entries)
            entries[price.model] = price
            self._entries = entries  # readers see the old or the new dict, never a half-updated one

    def price_for(self, model: str) -> ModelPrice | None:
        """The price of `model`, or None when the server would leave it unpriced."""
        entries = self._entries
        name = model.lower()
        found = _longest_prefix_match(entries, name)
        if found is not None:
            return found
        stripped = _strip_provider_prefixes(name)
        return None if stripped == name else _longest_prefix_match(entries, stripped)

    def cost(self, model: str, input_tokens: int = 0, output_tokens: int = 0, cached_tokens: int = 0,
             cache_write_tokens: int = 0) -> Cost | None:
        price = self.price_for(model)
        if price is None:
            return None
        return Cost(price.cost_micros(input_tokens, output_tokens, cached_tokens, cache_write_tokens), price)


def _longest_prefix_match(entries: Mapping[str, ModelPrice], name: str) -> ModelPrice | None:
    exact = entries.get(name)
    if exact is not None:
        return exact
    raw = name.encode("utf-8")
    # from the longest prefix down; a boundary byte is ASCII, so every prefix is whole UTF-8
    for end in range(len(raw) - 1, 0, -1):
        if raw[end] in _BOUNDARIES:
            hit = entries.get(raw[:end].decode("utf-8"))
            if hit is not None:
                return hit
    return None


def _strip_provider_prefixes(name: str) -> str:
    """`openai/gpt-4o` -> `gpt-4o`; `us.anthropic.claude-3-5-sonnet-...` -> `claude-3-5-sonnet-...`."""
    rest = name
    slash = rest.rfind("/")
    if slash >= 0:
        rest = rest[slash + 1:]
    # leading dot-separated words without digits are region or vendor qualifiers
    while True:
        dot = rest.find(".")
        if dot <= 0 or not rest[:dot].isalpha() or dot + 1 >= len(rest):
            return rest
        rest = rest[dot + 1:]


def _packaged_pricing_path() -> Path | None:
    try:
        ref = resources.files("pyflare").joinpath("data", "pricing.json")
        if ref.is_file():
            return Path(str(ref))
    except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover - broken install
        pass
    # An editable install runs from the source tree, where the build hook has copied nothing:
    # there the server's file is in the repository four levels up (sdk/python/src/pyflare).
    source = Path(__file__).resolve().parents[4] / "Sources" / "PyFlareModel" / "Resources" / "pricing.json"
    return source if source.is_file() else None


def builtin_pricing_data() -> dict:
    """The server's price list as shipped with this SDK (the parsed `pricing.json`)."""
    path = _packaged_pricing_path()
    if path is None:
        raise FileNotFoundError("pyflare/data/pricing.json is missing from this installation of pyflare; "
                                "reinstall the package (it is copied in from the server when built)")
    return json.loads(path.read_text(encoding="utf-8"))


_table: PricingTable | None = None
_table_lock = threading.Lock()


def pricing_table() -> PricingTable:
    """The process-wide table: the built-in prices plus every `set_price`."""
    global _table
    table = _table
    if table is None:
        with _table_lock:
            if _table is None:
                _table = PricingTable.from_json(builtin_pricing_data())
            table = _table
    return table


def set_price(model: str, input: float, output: float, cache_read: float | None = None,
              cache_write: float | None = None, provider: str | None = None) -> ModelPrice:
    """Adds or replaces the price of `model` (USD per million tokens) for `calculate_cost`.

    This changes the SDK's figures only; to have the server price the same way, set the price in its
    config (`pricing.models`) or with `PUT /api/v1/pricing/{model}`.
    """
    price = ModelPrice(model=model, input=input, output=output, cache_read=cache_read, cache_write=cache_write,
                       provider=provider)
    pricing_table().upsert(price)
    return price


def get_price(model: str) -> ModelPrice | None:
    return pricing_table().price_for(model)


def calculate_cost(model: str, input_tokens: int = 0, output_tokens: int = 0, cached_tokens: int = 0,
                   cache_write_tokens: int = 0, *, pricing: PricingTable | None = None) -> Cost | None:
    """The cost of one call, or None for a model without a price (the server stores null then).

    `input_tokens` counts every input token, the cached reads (`cached_tokens`) and cache writes
    included, as OpenTelemetry's `gen_ai.usage.input_tokens` does.
    """
    return (pricing or pricing_table()).cost(model, input_tokens, output_tokens, cached_tokens, cache_write_tokens)
