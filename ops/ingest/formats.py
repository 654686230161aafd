"""The registry of the further export formats (beyond canonical CSVs, Shopify orders and Olist).

Each format module (``ops/ingest/uci.py``, ...) defines one :class:`Format`: its import kind,
a one-line description, the header columns that identify it (:func:`ops.ingest.detect.detect`
recognises a file whose header holds all of them) and its loader, with the signature every
importer shares: ``load(session, *, files, problems, counts, progress, warnings, actor) -> rows
read``, writing nothing when ``problems`` holds any.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    """One recognisable export format."""

    kind: str
    doc: str
    signature: frozenset[str]  # header columns that identify a file of this format
    load: Callable[..., int]
    rank: int = 8  # import order when several formats arrive together (the canonical tables' order: orders = 8)
    also: tuple[frozenset[str], ...] = ()  # the signatures of its other layouts

    def fits(self, header: set[str]) -> int:
        """The size of the largest signature ``header`` holds (0: none)."""
        return max((len(sig) for sig in (self.signature, *self.also) if sig <= header), default=0)


def _formats() -> dict[str, Format]:
    from ops.ingest import amazon, loop, shipstation, shopify_catalog, uci, woocommerce

    return {f.kind: f for f in (uci.FORMAT, amazon.ORDERS_FORMAT, amazon.RETURNS_FORMAT, shipstation.FORMAT,
                                woocommerce.FORMAT, loop.FORMAT, shopify_catalog.PRODUCTS_FORMAT,
                                shopify_catalog.INVENTORY_FORMAT)}


FORMATS: dict[str, Format] = _formats()
