"""genvault: a private, durable history of the images you generate with AI models.

from genvault import Client

with Client() as gv:                      # embedded default, or settings from the env
    gv.sign_in_local("alice")             # hosted: gv.sign_in(email, password)
    image = gv.create("a red fox in fresh snow", aspect_ratio="16:9", seed=7)
    for gen in gv.generations.list(limit=10).items:
        print(gen.id, gen.created_at, gen.prompt)
    gv.generations.download(image.id, Path("fox.webp"))
    print(gv.credits.balance(), "credits left")

This module is the whole public API; the `gen` command line and the web gallery
use nothing else. It holds:

- :class:`Client`, which signs in and hands out the repos: ``generations``,
  ``credits``, ``collections``, ``sharing``, ``templates``, and for operators
  ``admin()`` and :class:`Upkeep` (migrations, schema checks, debugging queries).
- The records they return (:class:`Generation`, :class:`Page`, ...), the inputs
  they take (:class:`HistoryFilter`, :class:`Recipe`), and the limits
  :data:`MAX_PAGE` (rows per page) and :data:`MAX_PROMPT` (characters).
- The image model interface (:class:`ImageModel` and its request and result).
- The errors, all under :class:`GenvaultError`.
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
    from genvault._account import AccountDeletion
    from genvault._admin import AdminRepo, PurgeResult
    from genvault._client import Client
    from genvault._collections import CollectionsRepo
    from genvault._credits import CreditsRepo
    from genvault._export import ExportResult
    from genvault._flow import SweepResult
    from genvault._generations import GenerationsRepo
    from genvault._imagegen import ASPECT_RATIOS, ImageModel, ImageRequest, ImageResult
    from genvault._lookup import Scope
    from genvault._paging import MAX_PAGE, Page
    from genvault._recipe import Recipe
    from genvault._records import (
        Collection,
        DeleteOutcome,
        Generation,
        HistoryFilter,
        LedgerEntry,
        PublicLink,
        RenderedTemplate,
        Share,
        SharedGeneration,
        SharedWithMe,
        TagCount,
        Template,
    )
    from genvault._session import Session
    from genvault._sharing import SharingRepo
    from genvault._templates import TemplatesRepo
    from genvault._upkeep import DebugResult, MigrationStatus, Upkeep
    from genvault._validate import MAX_PROMPT

# The rest is imported on first use, so that `import genvault` (and `gen --help`)
# stays fast: the database driver and Pillow load only when something needs them.
_LAZY = {
    "AccountDeletion": "genvault._account",
    "AdminRepo": "genvault._admin",
    "PurgeResult": "genvault._admin",
    "Client": "genvault._client",
    "CollectionsRepo": "genvault._collections",
    "CreditsRepo": "genvault._credits",
    "ExportResult": "genvault._export",
    "SweepResult": "genvault._flow",
    "GenerationsRepo": "genvault._generations",
    "ASPECT_RATIOS": "genvault._imagegen",
    "ImageModel": "genvault._imagegen",
    "ImageRequest": "genvault._imagegen",
    "ImageResult": "genvault._imagegen",
    "Scope": "genvault._lookup",
    "MAX_PAGE": "genvault._paging",
    "Page": "genvault._paging",
    "Recipe": "genvault._recipe",
    "Collection": "genvault._records",
    "DeleteOutcome": "genvault._records",
    "Generation": "genvault._records",
    "HistoryFilter": "genvault._records",
    "LedgerEntry": "genvault._records",
    "PublicLink": "genvault._records",
    "RenderedTemplate": "genvault._records",
    "Share": "genvault._records",
    "SharedGeneration": "genvault._records",
    "SharedWithMe": "genvault._records",
    "TagCount": "genvault._records",
    "Template": "genvault._records",
    "Session": "genvault._session",
    "SharingRepo": "genvault._sharing",
    "TemplatesRepo": "genvault._templates",
    "DebugResult": "genvault._upkeep",
    "MigrationStatus": "genvault._upkeep",
    "Upkeep": "genvault._upkeep",
    "MAX_PROMPT": "genvault._validate",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'genvault' has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = [
    "ASPECT_RATIOS",
    "MAX_PAGE",
    "MAX_PROMPT",
    "AccountDeletion",
    "AdminRepo",
    "BackendUnreachable",
    "Client",
    "Collection",
    "CollectionsRepo",
    "ConfigError",
    "Conflict",
    "CreditsRepo",
    "DebugResult",
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
    "MigrationStatus",
    "ModelFailed",
    "NotFound",
    "NotSignedIn",
    "Page",
    "PermissionDenied",
    "PublicLink",
    "PurgeResult",
    "Recipe",
    "RenderedTemplate",
    "Scope",
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
    "Upkeep",
]

__version__ = "0.1.0"
