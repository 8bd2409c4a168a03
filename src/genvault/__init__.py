"""genvault: a private, durable history of the images you generate with AI models.

from genvault import Client

with Client() as gv:                      # embedded default, or settings from the env
    gv.sign_in_local("alice")             # hosted: gv.sign_in(email, password)
    image = gv.create("a red fox in fresh snow", aspect_ratio="16:9", seed=7)
    for gen in gv.generations.list(limit=10).items:
        print(gen.id, gen.created_at, gen.prompt)
    gv.generations.download(image.id, Path("fox.webp"))
    print(gv.credits.balance(), "credits left")
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from genvault._exceptions import (
    BackendUnreachable,
    ConfigError,
    Conflict,
    GenvaultError,
    InsufficientCredits,
    InvalidInput,
    ModelFailed,
    NotFound,
    NotSignedIn,
    PermissionDenied,
    SessionExpired,
    StorageFailed,
)
from genvault._settings import Settings

if TYPE_CHECKING:
    from genvault._admin import AdminRepo, PurgeResult
    from genvault._client import AccountDeletion, Client
    from genvault._export import ExportResult
    from genvault._flow import SweepResult
    from genvault._imagegen import ASPECT_RATIOS, ImageModel, ImageRequest, ImageResult
    from genvault._models import DeleteOutcome, Generation, LedgerEntry, Page
    from genvault._repos import CreditsRepo, GenerationsRepo
    from genvault._session import Session

# The rest is imported on first use, so that `import genvault` (and `gen --help`)
# stays fast: the database driver and Pillow load only when something needs them.
_LAZY = {
    "AdminRepo": "genvault._admin",
    "PurgeResult": "genvault._admin",
    "AccountDeletion": "genvault._client",
    "Client": "genvault._client",
    "ExportResult": "genvault._export",
    "SweepResult": "genvault._flow",
    "ASPECT_RATIOS": "genvault._imagegen",
    "ImageModel": "genvault._imagegen",
    "ImageRequest": "genvault._imagegen",
    "ImageResult": "genvault._imagegen",
    "DeleteOutcome": "genvault._models",
    "Generation": "genvault._models",
    "LedgerEntry": "genvault._models",
    "Page": "genvault._models",
    "CreditsRepo": "genvault._repos",
    "GenerationsRepo": "genvault._repos",
    "Session": "genvault._session",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'genvault' has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = [
    "ASPECT_RATIOS",
    "AccountDeletion",
    "AdminRepo",
    "BackendUnreachable",
    "Client",
    "ConfigError",
    "Conflict",
    "CreditsRepo",
    "DeleteOutcome",
    "ExportResult",
    "Generation",
    "GenerationsRepo",
    "GenvaultError",
    "ImageModel",
    "ImageRequest",
    "ImageResult",
    "InsufficientCredits",
    "InvalidInput",
    "LedgerEntry",
    "ModelFailed",
    "NotFound",
    "NotSignedIn",
    "Page",
    "PermissionDenied",
    "PurgeResult",
    "Session",
    "SessionExpired",
    "Settings",
    "StorageFailed",
    "SweepResult",
]

__version__ = "0.1.0"
