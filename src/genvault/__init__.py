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
    TimedOut,
)
from genvault._settings import Settings

if TYPE_CHECKING:
    from genvault._admin import AdminRepo, PurgeResult
    from genvault._client import AccountDeletion, Client
    from genvault._export import ExportResult
    from genvault._flow import SweepResult
    from genvault._imagegen import ASPECT_RATIOS, ImageModel, ImageRequest, ImageResult
    from genvault._models import (
        Collection,
        DeleteOutcome,
        Generation,
        HistoryFilter,
        LedgerEntry,
        Page,
        PublicLink,
        RenderedTemplate,
        Share,
        SharedGeneration,
        SharedWithMe,
        TagCount,
        Template,
    )
    from genvault._organise import CollectionsRepo, SharingRepo, TemplatesRepo
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
    "Collection": "genvault._models",
    "DeleteOutcome": "genvault._models",
    "Generation": "genvault._models",
    "HistoryFilter": "genvault._models",
    "LedgerEntry": "genvault._models",
    "Page": "genvault._models",
    "PublicLink": "genvault._models",
    "RenderedTemplate": "genvault._models",
    "Share": "genvault._models",
    "SharedGeneration": "genvault._models",
    "SharedWithMe": "genvault._models",
    "TagCount": "genvault._models",
    "Template": "genvault._models",
    "CollectionsRepo": "genvault._organise",
    "SharingRepo": "genvault._organise",
    "TemplatesRepo": "genvault._organise",
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
    "Collection",
    "CollectionsRepo",
    "ConfigError",
    "Conflict",
    "CreditsRepo",
    "DeleteOutcome",
    "ExportResult",
    "Generation",
    "GenerationsRepo",
    "GenvaultError",
    "HistoryFilter",
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
    "PublicLink",
    "PurgeResult",
    "RenderedTemplate",
    "Session",
    "SessionExpired",
    "Settings",
    "Share",
    "SharedGeneration",
    "SharedWithMe",
    "SharingRepo",
    "StorageFailed",
    "SweepResult",
    "TagCount",
    "Template",
    "TemplatesRepo",
    "TimedOut",
]

__version__ = "0.1.0"
