"""A hosted Supabase project, reached over HTTP: data, files and sign-in.

Three services stand behind one project URL, and genvault talks to each through
supabase-py's own clients, one module each:

* PostgREST (``/rest/v1``) runs genvault's SQL functions as the signed-in user
  (:class:`HostedTransport`, in :mod:`genvault._hosted_rest`);
* Storage (``/storage/v1``) keeps the image files in a private bucket
  (:class:`SupabaseStorage`, in :mod:`genvault._hosted_storage`);
* Auth (``/auth/v1``) signs users in and refreshes their sessions
  (:class:`HostedAuth`, in :mod:`genvault._hosted_auth`).

All three start from the project client of :func:`make_supabase_client`
(:mod:`genvault._hosted_client`), share its one ``httpx.Client``, and send the
caller's own token on every request. Importing this module loads supabase-py
and httpx: only hosted settings reach it.
"""

from __future__ import annotations

from genvault._hosted_auth import HostedAuth
from genvault._hosted_client import make_supabase_client
from genvault._hosted_rest import HostedTransport
from genvault._hosted_storage import SupabaseStorage

__all__ = ["HostedAuth", "HostedTransport", "SupabaseStorage", "make_supabase_client"]
