"""What a service client's method returns where some modifiers take a way of the service's own: a call
made by ``& MODIFIER`` or a method, as :class:`~mesh.RemoteCall` is, whose subclass carries some
modifiers itself (``_take``) and leaves the rest to the remote call."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable, Generator
from typing import Any

from mesh import BG, FG, NO_RETURN, RemoteCall

NOT_TAKEN: Any = object()
"""What ``_take`` returns for a modifier it leaves to the remote call."""


class ServiceCall:
    """The call ``name(...)``, made through ``remote()`` (the remote call) for every modifier that
    ``_take`` leaves; one that is never made warns when it is garbage-collected, as a RemoteCall does."""

    __slots__ = ("_made", "_remote", "name")

    def __init__(self, name: str, remote: Callable[[], RemoteCall]) -> None:
        self.name = name
        self._remote = remote
        self._made = False

    def __repr__(self) -> str:
        return f"<call {self.name}(...)>"

    def __del__(self) -> None:
        if not self._made:
            warnings.warn(
                f"call {self.name}(...) was never made: give it a modifier, such as {self.name}(...) & FG",
                RuntimeWarning,
                stacklevel=1,
            )

    def __and__(self, modifier: Any) -> Any:
        self._made = True
        outcome = self._take(modifier)
        return self.remote() & modifier if outcome is NOT_TAKEN else outcome

    def __await__(self) -> Generator[Any, None, Any]:
        self._made = True
        return self.remote().__await__()

    def _take(self, modifier: Any) -> Any:
        """Carry out ``modifier`` (a modifier, or its class) here, or return :data:`NOT_TAKEN`."""
        return NOT_TAKEN

    def remote(self) -> RemoteCall:
        """The remote call itself, for what the service's own ways do not take."""
        self._made = True
        return self._remote()

    def fg(self, timeout: Any = None, receiver: str | None = None) -> Any:
        """Same as ``& FG(timeout=timeout, receiver=receiver)``."""
        return self & FG(timeout, receiver)

    def bg(self, timeout: Any = None, eta: Any = 0.0, receiver: str | None = None, return_result: bool = True) -> Any:
        """Same as ``& BG(timeout=timeout, eta=eta, receiver=receiver, return_result=return_result)``."""
        return self & BG(timeout, eta, receiver, return_result)

    def no_return(self, eta: Any = 0.0, receiver: str | None = None) -> None:
        """Same as ``& NO_RETURN(eta=eta, receiver=receiver)``."""
        self & NO_RETURN(eta, receiver)

    def __getattr__(self, name: str) -> Any:
        # period, broadcast and stream: the remote call's own.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.remote(), name)


def in_async_code() -> bool:
    """True when this thread runs an event loop, where waiting must be done with ``await``."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
