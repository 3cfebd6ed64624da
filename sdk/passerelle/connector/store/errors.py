"""What the store raises: every error is a `StoreError`."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "DeliveryNotFoundError",
    "DeliveryStateError",
    "LeaseLostError",
    "SchemaVersionError",
    "StoreClosedError",
    "StoreError",
    "StoreUnavailableError",
]


class StoreError(Exception):
    """The store refused an operation or could not complete it."""


class StoreUnavailableError(StoreError):
    """The store could not be reached or could not write (a database down, a full disk): the
    operation changed nothing and may be tried again once the store is back."""


class StoreClosedError(StoreError):
    """The store was used after `close()`."""


class LeaseLostError(StoreError):
    """The worker no longer holds the claim it tries to settle; nothing was changed."""

    def __init__(self, message: str, *, delivery_id: int) -> None:
        super().__init__(message)
        self.delivery_id = delivery_id


class DeliveryNotFoundError(StoreError, LookupError):
    """No delivery has the given id."""

    def __init__(self, message: str, *, ids: Sequence[int]) -> None:
        super().__init__(message)
        self.ids = tuple(ids)

    def __str__(self) -> str:
        # LookupError would quote the message like a dictionary key.
        return str(self.args[0])


class DeliveryStateError(StoreError):
    """An action center operation on deliveries in a status it does not apply to."""


class SchemaVersionError(StoreError):
    """The database was migrated by a newer Passerelle than this one."""
