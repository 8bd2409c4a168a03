"""Who may call each function of organising.sql: the call, and the outcome expected
for each actor of tests/test_ownership_organising_sql.py (in ``ACTORS`` order).

Outcomes are named as in tests/test_ownership_sql.py (``rows``, ``none``, ``ok`` or
a SQLSTATE). Both matrices read these: the organising one runs every case, and
the main one checks that every function in public is in one of them.
"""

from __future__ import annotations

ACTORS = ("owner", "other", "recipient", "viewer", "anon", "service_role")
Outcomes = tuple[str, str, str, str, str, str]

SIGNED_IN_ONLY = ("42501", "42501", "42501")  # viewer, anon, service_role
NOBODY: Outcomes = ("42501",) * 6

# function signature -> (call, expected outcome per actor in ACTORS order)
FUNCTION_CASES: dict[str, tuple[str, Outcomes]] = {
    "find_generations(integer, text, timestamp with time zone, uuid, boolean, text,"
    " timestamp with time zone, timestamp with time zone, text, boolean, uuid, text[],"
    " boolean)": (
        "select * from public.find_generations() where id = %(gen)s",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "generations_by_id_prefix(text, boolean)": (
        "select * from public.generations_by_id_prefix("
        "left(replace(%(gen)s::text, '-', ''), 8)) where id = %(gen)s::uuid",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "list_generations(integer, timestamp with time zone, uuid)": (
        "select * from public.list_generations(1000) where id = %(gen)s",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "search_generations(text, integer, timestamp with time zone, uuid)": (
        "select * from public.search_generations('matrix prompt') where id = %(gen)s",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "star_generations(uuid[], boolean)": (
        "select * from public.star_generations(array[%(gen)s]::uuid[])",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "trash_generations(uuid[])": (
        "select * from public.trash_generations(array[%(gen)s]::uuid[])",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "restore_generations(uuid[])": (
        "select * from public.restore_generations(array[%(trashed)s]::uuid[])",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "empty_trash(integer)": (
        "select * from public.empty_trash()",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "admin_purge_trash(interval, integer)": (
        "select * from public.admin_purge_trash('0 seconds') where id = %(trashed)s",
        ("42501", "42501", "42501", "42501", "42501", "rows"),
    ),
    "tag_generations(uuid[], text[])": (
        "select n from public.tag_generations(array[%(gen)s]::uuid[], array['fresh']) n"
        " where n > 0",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "untag_generations(uuid[], text[])": (
        "select n from public.untag_generations(array[%(gen)s]::uuid[], array['matrix']) n"
        " where n > 0",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "my_tags()": (
        "select * from public.my_tags() where tag = 'matrix'",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "create_collection(text)": (
        "select * from public.create_collection('fresh')",
        ("rows", "rows", "rows", *SIGNED_IN_ONLY),
    ),
    "rename_collection(uuid, text)": (
        "select * from public.rename_collection(%(coll)s, 'renamed')",
        ("rows", "P0002", "P0002", *SIGNED_IN_ONLY),
    ),
    "delete_collection(uuid)": (
        "select d from public.delete_collection(%(coll)s) d where d",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "my_collections()": (
        "select * from public.my_collections() where id = %(coll)s",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "add_to_collection(uuid, uuid[])": (
        "select n from public.add_to_collection(%(coll)s, array[%(spare)s]::uuid[]) n where n > 0",
        ("rows", "P0002", "P0002", *SIGNED_IN_ONLY),
    ),
    "remove_from_collection(uuid, uuid[])": (
        "select n from public.remove_from_collection(%(coll)s, array[%(gen)s]::uuid[]) n"
        " where n > 0",
        ("rows", "P0002", "P0002", *SIGNED_IN_ONLY),
    ),
    "share_with(text, uuid, uuid)": (
        "select * from public.share_with(%(other_email)s, %(gen)s)",
        ("rows", "P0002", "P0002", *SIGNED_IN_ONLY),
    ),
    "unshare(uuid)": (
        "select u from public.unshare(%(share)s) u where u",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "my_shares()": (
        "select * from public.my_shares() where id = %(share)s",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "shared_with_me()": (
        "select * from public.shared_with_me() where id in (%(share)s, %(coll_share)s)",
        ("none", "none", "rows", *SIGNED_IN_ONLY),
    ),
    "shared_generations(uuid, integer, timestamp with time zone, uuid, uuid)": (
        "select * from public.shared_generations() where id = %(gen)s",
        ("none", "none", "rows", *SIGNED_IN_ONLY),
    ),
    "create_public_link(uuid, uuid, interval)": (
        "select * from public.create_public_link(%(gen)s)",
        ("rows", "P0002", "P0002", *SIGNED_IN_ONLY),
    ),
    "revoke_public_link(uuid)": (
        "select r from public.revoke_public_link(%(link)s) r where r",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "my_public_links()": (
        "select * from public.my_public_links() where id = %(link)s",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    # Whoever holds the token sees the image; the anon actor's guess sees nothing.
    "open_public_link(text, integer, timestamp with time zone, uuid)": (
        "select * from public.open_public_link(%(token)s) where id = %(gen)s",
        ("rows", "rows", "rows", "rows", "none", "42501"),
    ),
    "save_template(text, text, text, jsonb)": (
        "select public.save_template('fresh', 'a {b}')",
        ("rows", "rows", "rows", *SIGNED_IN_ONLY),
    ),
    "my_templates()": (
        "select * from public.my_templates() where name = 'matrix'",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "delete_template(text)": (
        "select d from public.delete_template('matrix') d where d",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "render_template(text, jsonb)": (
        "select * from public.render_template('matrix', '{\"x\": \"y\"}')",
        ("rows", "P0002", "P0002", *SIGNED_IN_ONLY),
    ),
    # Helpers. Those that run only inside SECURITY DEFINER functions are granted to
    # nobody; those granted to users run with the caller's rights, so another
    # user's rows stay invisible to them.
    "genvault_normalise_tags(text[])": (
        "select public.genvault_normalise_tags(array[' A '])",
        NOBODY,
    ),
    "genvault_check_ids(uuid[])": (
        "select public.genvault_check_ids(array[%(gen)s]::uuid[])",
        NOBODY,
    ),
    "genvault_collection_name(text)": (
        "select public.genvault_collection_name(' x ')",
        NOBODY,
    ),
    "genvault_owned_collection(uuid, text)": (
        "select public.genvault_owned_collection(%(coll)s, %(owner)s)",
        NOBODY,
    ),
    "genvault_placeholders(text)": (
        "select public.genvault_placeholders('{a} {b}')",
        ("ok", "ok", "ok", *SIGNED_IN_ONLY),
    ),
    "genvault_history_bounds(text)": (
        "select * from public.genvault_history_bounds(%(owner)s) where first_at is not null",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    # Storage's question for the share policy of storage_sharing.sql: only a recipient
    # gets a yes for the owner's file.
    "genvault_is_shared_file(text)": (
        "select 1 where public.genvault_is_shared_file(%(gen_path)s)",
        ("none", "none", "rows", *SIGNED_IN_ONLY),
    ),
    "genvault_limit_tags()": ("select public.genvault_limit_tags()", NOBODY),
    "genvault_check_collection_item()": (
        "select public.genvault_check_collection_item()",
        NOBODY,
    ),
    "genvault_is_counted(user_generations)": (
        "select public.genvault_is_counted(g) from public.user_generations g limit 1",
        NOBODY,
    ),
    "genvault_tags_of(uuid)": ("select public.genvault_tags_of(%(gen)s)", NOBODY),
    "genvault_check_share_target(text, uuid, uuid)": (
        "select public.genvault_check_share_target(%(owner)s, %(gen)s, null)",
        NOBODY,
    ),
}

# What a visitor without an account may call: opening a link, nothing else.
ANON_FUNCTIONS = {"open_public_link(text,integer,timestamp with time zone,uuid)"}
