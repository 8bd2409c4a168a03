-- =============================================================================
-- genvault: organising a large history.
--
-- Apply after history_at_scale.sql (or run `gen db migrate`). Idempotent.
--
-- Favourites (a star on a generation), collections, tags, a trash that keeps
-- deleted images for 30 days, sharing with another user or through a public
-- link that expires, prompt templates, and one function that pages through the
-- history under any combination of filters.
--
-- Every new table belongs to one user and has owner-only policies in the
-- `(select auth.uid())` form. What another user may see (a share) or what a
-- visitor without an account may see (a public link) is never granted through
-- a policy on the owner's tables: it goes through SECURITY DEFINER functions
-- below that check the share or the link on each call, return read-only
-- copies, and never let the reader change, delete or pass anything on.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- Favourites and trash: indexes over user_generations' starred and trashed_at
-- (the columns are defined with the table, in generations.sql)
-- -----------------------------------------------------------------------------

-- Starred, in history, newest first: the "starred only" filter and the first
-- part of "starred first" read this instead of skipping unstarred rows.
create index if not exists user_generations_starred_idx
  on public.user_generations (user_id, created_at desc, id desc)
  where starred and trashed_at is null;
comment on index public.user_generations_starred_idx is
  'A user''s starred generations in the history, newest first.';

-- The trash, newest first, without walking the rest of the history.
create index if not exists user_generations_trash_idx
  on public.user_generations (user_id, created_at desc, id desc)
  where trashed_at is not null;
comment on index public.user_generations_trash_idx is
  'A user''s trashed generations, newest first.';

-- The purge looks for rows trashed long enough ago, across every user.
create index if not exists user_generations_trashed_at_idx
  on public.user_generations (trashed_at)
  where trashed_at is not null;
comment on index public.user_generations_trashed_at_idx is
  'The trash purge: rows trashed before a given time.';

-- Collections and tags keep a copy of their generation's created_at so that a
-- collection or a tag pages newest first straight from its own index. The
-- copy is part of the foreign key (id, user_id, created_at): PostgreSQL keeps
-- it equal on update, and the key also proves the generation is the same
-- user's as the collection or tag row.
do $$
begin
  if not exists (select from pg_catalog.pg_constraint
                  where conname = 'user_generations_id_owner_created_key'
                    and conrelid = 'public.user_generations'::regclass) then
    alter table public.user_generations
      add constraint user_generations_id_owner_created_key unique (id, user_id, created_at);
  end if;
end
$$;

-- -----------------------------------------------------------------------------
-- Collections
-- -----------------------------------------------------------------------------
create table if not exists public.collections (
  id uuid primary key default gen_random_uuid(),
  user_id text not null references public.user_credits (user_id) on delete cascade,
  name text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint collections_name_shape check (name = btrim(name) and length(name) between 1 and 100),
  constraint collections_id_owner_key unique (id, user_id)
);
comment on table public.collections is
  'Named groups of one user''s generations (an image may be in several). Private '
  'to their owner unless shared.';

create unique index if not exists collections_user_name_idx
  on public.collections (user_id, lower(name));
comment on index public.collections_user_name_idx is
  'A user''s collection names are unique, compared case-insensitively.';

create or replace trigger collections_touch_updated_at
  before update on public.collections
  for each row execute function public.genvault_touch_updated_at();

create table if not exists public.collection_items (
  collection_id uuid not null,
  generation_id uuid not null,
  user_id text not null,
  generation_created_at timestamptz not null,
  added_at timestamptz not null default now(),
  primary key (collection_id, generation_id),
  constraint collection_items_collection_fkey foreign key (collection_id, user_id)
    references public.collections (id, user_id) on delete cascade,
  constraint collection_items_generation_fkey foreign key (generation_id, user_id, generation_created_at)
    references public.user_generations (id, user_id, created_at)
    on delete cascade on update cascade
);
comment on table public.collection_items is
  'Which generations are in which collection. Both belong to user_id (the foreign '
  'keys say so); deleting either removes the item.';

-- A row naming a collection that is not user_id's is refused here, before the
-- primary key is checked: otherwise a user who knows the ids of another user's
-- collection and generation could tell from a duplicate-key error (23505)
-- whether the one holds the other. A row of another user_id is left to the
-- insert policy (42501).
create or replace function public.genvault_check_collection_item() returns trigger
language plpgsql stable
set search_path = ''
as $$
begin
  if not public.genvault_is_operator()
     and new.user_id is distinct from (select auth.uid())::text then
    return new;
  end if;
  if not exists (select from public.collections c
                  where c.id = new.collection_id and c.user_id = new.user_id) then
    raise exception 'collection not found' using errcode = '23503',
      hint = 'Add to one of your own collections (`gen collection list`).';
  end if;
  return new;
end
$$;
comment on function public.genvault_check_collection_item() is
  'Trigger: refuses (23503) an item whose collection is not its user_id''s, before '
  'the primary key can reveal another user''s items.';

create or replace trigger collection_items_check_collection
  before insert on public.collection_items
  for each row execute function public.genvault_check_collection_item();

create index if not exists collection_items_page_idx
  on public.collection_items (collection_id, generation_created_at desc, generation_id desc);
comment on index public.collection_items_page_idx is
  'A collection''s images newest first, paged by (created_at, id) keyset.';
create index if not exists collection_items_generation_idx
  on public.collection_items (generation_id);
comment on index public.collection_items_generation_idx is
  'The collections a generation is in (and the cascade when it is deleted).';

-- -----------------------------------------------------------------------------
-- Tags
-- -----------------------------------------------------------------------------
create table if not exists public.generation_tags (
  generation_id uuid not null,
  tag text not null,
  user_id text not null,
  generation_created_at timestamptz not null,
  primary key (generation_id, tag),
  constraint generation_tags_generation_fkey foreign key (generation_id, user_id, generation_created_at)
    references public.user_generations (id, user_id, created_at)
    on delete cascade on update cascade,
  constraint generation_tags_tag_shape
    check (tag = lower(btrim(tag)) and length(tag) between 1 and 50)
);
comment on table public.generation_tags is
  'Free-form tags on generations: trimmed, lower-case, 1 to 50 characters, at most '
  '20 per generation.';

create index if not exists generation_tags_page_idx
  on public.generation_tags (user_id, tag, generation_created_at desc, generation_id desc);
comment on index public.generation_tags_page_idx is
  'A user''s generations with one tag, newest first; also their tags with counts.';

-- At most 20 tags per generation, whichever way rows arrive. The generation's
-- row is locked first, so two transactions tagging it at once are counted one
-- after the other. A tag the generation already has is no 21st: the insert's
-- ON CONFLICT leaves it alone. A row of another user_id is left to the insert
-- policy (42501), and a generation that is not user_id's is refused here
-- (23503) before the count or the primary key is looked at: neither the limit
-- nor a duplicate-key error may tell anyone (a share's recipient knows the
-- generation's id) which tags another user's generation has.
create or replace function public.genvault_limit_tags() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  if not public.genvault_is_operator()
     and new.user_id is distinct from (select auth.uid())::text then
    return new;
  end if;
  perform from public.user_generations g
   where g.id = new.generation_id and g.user_id = new.user_id
     for no key update;
  if not found then
    raise exception 'generation not found' using errcode = '23503',
      hint = 'Tag your own generations (`gen list` shows their ids).';
  end if;
  if exists (select from public.generation_tags t
              where t.generation_id = new.generation_id and t.tag = new.tag) then
    return new;
  end if;
  if (select count(*) from public.generation_tags t where t.generation_id = new.generation_id) >= 20 then
    raise exception 'a generation can have at most 20 tags' using errcode = '22023',
      hint = 'Remove a tag before adding another.';
  end if;
  return new;
end
$$;
comment on function public.genvault_limit_tags() is
  'Trigger: refuses a 21st tag on a generation (22023); a tag it already has is not counted.';

create or replace trigger generation_tags_limit
  before insert on public.generation_tags
  for each row execute function public.genvault_limit_tags();

-- -----------------------------------------------------------------------------
-- Sharing with another user, and public links
-- -----------------------------------------------------------------------------
create table if not exists public.shares (
  id uuid primary key default gen_random_uuid(),
  owner_id text not null references public.user_credits (user_id) on delete cascade,
  recipient_id text not null references public.user_credits (user_id) on delete cascade,
  generation_id uuid references public.user_generations (id) on delete cascade,
  collection_id uuid references public.collections (id) on delete cascade,
  created_at timestamptz not null default now(),
  constraint shares_one_target check (num_nonnulls(generation_id, collection_id) = 1),
  constraint shares_not_to_self check (recipient_id <> owner_id)
);
comment on table public.shares is
  'One generation or one collection that its owner lets another user see, '
  'read-only, until the owner revokes it. Written only by share_with() and unshare().';

create unique index if not exists shares_generation_recipient_idx
  on public.shares (generation_id, recipient_id) where generation_id is not null;
comment on index public.shares_generation_recipient_idx is
  'A generation is shared with a given user at most once.';
create unique index if not exists shares_collection_recipient_idx
  on public.shares (collection_id, recipient_id) where collection_id is not null;
comment on index public.shares_collection_recipient_idx is
  'A collection is shared with a given user at most once.';
create index if not exists shares_recipient_idx on public.shares (recipient_id, created_at desc);
comment on index public.shares_recipient_idx is 'What has been shared with a user, newest first.';
create index if not exists shares_owner_idx on public.shares (owner_id, created_at desc);
comment on index public.shares_owner_idx is 'What a user has shared, newest first.';

create table if not exists public.public_links (
  id uuid primary key default gen_random_uuid(),
  owner_id text not null references public.user_credits (user_id) on delete cascade,
  token_sha256 bytea not null unique,
  generation_id uuid references public.user_generations (id) on delete cascade,
  collection_id uuid references public.collections (id) on delete cascade,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  revoked_at timestamptz,
  constraint public_links_one_target check (num_nonnulls(generation_id, collection_id) = 1),
  constraint public_links_expiry check (expires_at > created_at)
);
comment on table public.public_links is
  'Links that show one generation or collection to anyone holding the token, '
  'until expires_at or until revoked. Only the SHA-256 of the token is kept: the '
  'token itself is shown once, to its creator.';
create index if not exists public_links_owner_idx on public.public_links (owner_id, created_at desc);
comment on index public.public_links_owner_idx is 'A user''s links, newest first.';
create index if not exists public_links_generation_idx
  on public.public_links (generation_id) where generation_id is not null;
comment on index public.public_links_generation_idx is
  'The links to a generation: deleting it finds them without reading every link.';
create index if not exists public_links_collection_idx
  on public.public_links (collection_id) where collection_id is not null;
comment on index public.public_links_collection_idx is
  'The links to a collection: deleting it finds them without reading every link.';

-- -----------------------------------------------------------------------------
-- Prompt templates
-- -----------------------------------------------------------------------------
create table if not exists public.prompt_templates (
  id uuid primary key default gen_random_uuid(),
  user_id text not null references public.user_credits (user_id) on delete cascade,
  name text not null,
  prompt text not null,
  model text,
  params jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint prompt_templates_name_shape
    check (name = btrim(name) and length(name) between 1 and 100),
  constraint prompt_templates_prompt_length check (length(btrim(prompt)) between 1 and 2000),
  constraint prompt_templates_params_object check (jsonb_typeof(params) = 'object')
);
comment on table public.prompt_templates is
  'Saved prompts with {placeholders}, and the model settings to use with them.';

create unique index if not exists prompt_templates_user_name_idx
  on public.prompt_templates (user_id, lower(name));
comment on index public.prompt_templates_user_name_idx is
  'A user''s template names are unique, compared case-insensitively.';

create or replace trigger prompt_templates_touch_updated_at
  before update on public.prompt_templates
  for each row execute function public.genvault_touch_updated_at();

-- -----------------------------------------------------------------------------
-- Row Level Security: each table's rows are its owner's alone to read.
-- -----------------------------------------------------------------------------
-- Every write goes through the functions below (SECURITY DEFINER, filtering on
-- the caller themselves), which check names, limits and ownership and never let
-- the caller choose an id. Users hold SELECT only, so each table has a SELECT
-- policy and no other; the write policies of earlier versions are dropped.
alter table public.collections enable row level security;
alter table public.collection_items enable row level security;
alter table public.generation_tags enable row level security;
alter table public.shares enable row level security;
alter table public.public_links enable row level security;
alter table public.prompt_templates enable row level security;

-- collections
drop policy if exists "Users can view their own collections" on public.collections;
create policy "Users can view their own collections"
  on public.collections for select to authenticated
  using ((select auth.uid())::text = user_id);
comment on policy "Users can view their own collections" on public.collections is
  'A user sees only their own collections (shared ones come through shared_with_me()).';

drop policy if exists "Users can create their own collections" on public.collections;

drop policy if exists "Users can rename their own collections" on public.collections;

drop policy if exists "Users can delete their own collections" on public.collections;

-- collection_items
drop policy if exists "Users can view their own collection items" on public.collection_items;
create policy "Users can view their own collection items"
  on public.collection_items for select to authenticated
  using ((select auth.uid())::text = user_id);
comment on policy "Users can view their own collection items" on public.collection_items is
  'A user sees what is in their own collections only.';

drop policy if exists "Users can add to their own collections" on public.collection_items;

drop policy if exists "Users can remove from their own collections" on public.collection_items;

-- generation_tags
drop policy if exists "Users can view their own tags" on public.generation_tags;
create policy "Users can view their own tags"
  on public.generation_tags for select to authenticated
  using ((select auth.uid())::text = user_id);
comment on policy "Users can view their own tags" on public.generation_tags is
  'A user sees the tags on their own generations only.';

drop policy if exists "Users can tag their own generations" on public.generation_tags;

drop policy if exists "Users can untag their own generations" on public.generation_tags;

-- shares: seen by both sides, written only by share_with() and unshare().
drop policy if exists "Owners and recipients can view a share" on public.shares;
create policy "Owners and recipients can view a share"
  on public.shares for select to authenticated
  using ((select auth.uid())::text in (owner_id, recipient_id));
comment on policy "Owners and recipients can view a share" on public.shares is
  'The user who shared and the user shared with both see the share; nobody else. '
  'No insert, update or delete policy: shares change only through the functions.';

-- public_links: seen by their owner, written only by the functions.
drop policy if exists "Owners can view their public links" on public.public_links;
create policy "Owners can view their public links"
  on public.public_links for select to authenticated
  using ((select auth.uid())::text = owner_id);
comment on policy "Owners can view their public links" on public.public_links is
  'A user sees their own links (never a token, only its hash). Links change only '
  'through create_public_link() and revoke_public_link().';

-- prompt_templates
drop policy if exists "Users can view their own templates" on public.prompt_templates;
create policy "Users can view their own templates"
  on public.prompt_templates for select to authenticated
  using ((select auth.uid())::text = user_id);
comment on policy "Users can view their own templates" on public.prompt_templates is
  'A user sees only their own prompt templates.';

drop policy if exists "Users can create their own templates" on public.prompt_templates;

drop policy if exists "Users can update their own templates" on public.prompt_templates;

drop policy if exists "Users can delete their own templates" on public.prompt_templates;

-- -----------------------------------------------------------------------------
-- Browsing: one function for every filter and sort
-- -----------------------------------------------------------------------------

-- The columns every browsing function returns: a generation and its tags.
-- (PostgREST and the library read them by name.)
create or replace function public.genvault_tags_of(generation_id uuid) returns text[]
language sql stable
set search_path = ''
as $$
  select coalesce(array_agg(t.tag order by t.tag), '{}')
    from public.generation_tags t
   where t.generation_id = genvault_tags_of.generation_id
$$;
comment on function public.genvault_tags_of(uuid) is
  'The tags of one generation, in alphabetical order.';

create or replace function public.genvault_normalise_tags(tags text[]) returns text[]
language plpgsql immutable
set search_path = ''
as $$
declare
  tag text;
  result text[] := '{}'::text[];
begin
  if tags is null then
    return null;
  end if;
  foreach tag in array tags loop
    tag := lower(public.genvault_trim(tag));
    if tag is null or tag = '' then
      raise exception 'a tag is empty' using errcode = '22023',
        hint = 'give tags like: portrait, 2024';
    end if;
    if length(tag) > 50 then
      raise exception 'the tag ''%''... is too long', left(tag, 20)
        using errcode = '22023', hint = 'use at most 50 characters';
    end if;
    if not tag = any (result) then
      result := result || tag;
    end if;
  end loop;
  return result;
end
$$;
comment on function public.genvault_normalise_tags(text[]) is
  'Tags as stored: trimmed, lower-case, without repeats; 22023 for an empty tag or '
  'one longer than 50 characters.';

-- find_generations: a page of the caller's generations under any combination
-- of filters, in one of three orders, with keyset paging that works the same
-- under every filter (pass the last row's created_at and id, and for the
-- "starred" order also its starred flag, to get the next page).
--
-- Which index serves a page depends on the filters, and the statement is
-- written so that the planner can read rows already in order and stop after
-- one page: a collection pages from collection_items and a tag from
-- generation_tags (both keep their generation's created_at for this), starred
-- rows from user_generations_starred_idx, the trash from
-- user_generations_trash_idx, text from the owner-keyed trigram index, and
-- everything else from the (user_id, created_at, id) history index. "Starred
-- first" is two such walks, starred then the rest, merged.
--
-- Why SECURITY DEFINER. Under Row Level Security PostgreSQL applies the policy
-- before any condition that is not leakproof, and ILIKE is not: it cannot be
-- an index condition, so a text filter could only walk all of the caller's
-- rows (0.4 s for a term absent from 100,000 prompts). Running as the table's
-- owner, it may use the search index. The price is that RLS does not guard
-- these statements: each one is limited to the caller's rows by the explicit
-- "g.user_id = $1" (or the caller's collection or tags), with the caller taken
-- from the request's verified claims exactly as the policy takes it, and the
-- function is granted to signed-in users only.
create or replace function public.find_generations(
  page_size integer default 50,
  sort text default 'newest',
  cursor_created_at timestamptz default null,
  cursor_id uuid default null,
  cursor_starred boolean default null,
  search_text text default null,
  created_from timestamptz default null,
  created_to timestamptz default null,
  with_model text default null,
  starred_only boolean default false,
  collection_id uuid default null,
  with_tags text[] default null,
  in_trash boolean default false
) returns table (
  id uuid, user_id text, prompt text, image_url text, created_at timestamptz,
  updated_at timestamptz, model text, params jsonb, thumbnail_url text,
  image_bytes bigint, image_sha256 text, starred boolean, trashed_at timestamptz,
  tags text[]
)
language plpgsql stable security definer
set search_path = ''
as $$
declare
  me text := public.genvault_require_user();
  wanted text[] := public.genvault_normalise_tags(with_tags);
  pattern text;
  term_keys integer[];
  src text := 'public.user_generations g';
  ts text := 'g.created_at';
  ident text := 'g.id';
  cond text := 'g.user_id = $1';
  text_cond text;
  order_by text;
  found uuid[];
  lead text;
  after_cursor text;
  walk text;
  statement text;
begin
  -- The rows come from RETURN QUERY EXECUTE, whose result plpgsql_check cannot
  -- see, so its extra warnings would call every output column "maybe
  -- unmodified" (`supabase db lint`); they are off for this function only.
  -- @plpgsql_check_options: extra_warnings = off
  --
  -- 1001: a page of up to 1000 plus the one look-ahead row that tells a client
  -- whether another page follows.
  if page_size is null or page_size not between 1 and 1001 then
    raise exception 'page size must be between 1 and 1000' using errcode = '22023';
  end if;
  if sort is null or sort not in ('newest', 'oldest', 'starred') then
    raise exception 'sort must be newest, oldest or starred' using errcode = '22023';
  end if;
  if (cursor_created_at is null) <> (cursor_id is null)
     or (sort = 'starred' and (cursor_created_at is null) <> (cursor_starred is null)) then
    raise exception 'malformed page cursor' using errcode = '22023',
      hint = 'Pass the cursor of the previous page unchanged.';
  end if;
  if created_from is not null and created_to is not null and created_from >= created_to then
    raise exception 'the date range is empty: "from" must come before "to"' using errcode = '22023',
      hint = 'The range includes "from" and stops before "to".';
  end if;
  if cardinality(wanted) > 20 then
    raise exception 'filter by at most 20 tags' using errcode = '22023',
      hint = 'An image carries at most 20 tags, so more can match nothing.';
  end if;
  if with_model is not null and length(with_model) > 200 then
    raise exception 'model must be at most 200 characters' using errcode = '22023';
  end if;

  if find_generations.collection_id is not null then
    if not exists (select from public.collections c
                    where c.id = find_generations.collection_id and c.user_id = me) then
      raise exception 'collection not found' using errcode = 'P0002',
        hint = 'List your collections with `gen collection list`.';
    end if;
    src := 'public.collection_items d join public.user_generations g on g.id = d.generation_id';
    ts := 'd.generation_created_at';
    ident := 'd.generation_id';
    -- Not "g.user_id = $1" as well: the collection is the caller's (checked
    -- above) and its items' foreign keys make their generations the caller's,
    -- and the planner, taking the two conditions for independent, would
    -- expect almost no rows and sort the whole collection.
    cond := 'd.user_id = $1 and d.collection_id = $7';
  elsif cardinality(wanted) > 0 then
    src := 'public.generation_tags d join public.user_generations g on g.id = d.generation_id';
    ts := 'd.generation_created_at';
    ident := 'd.generation_id';
    cond := 'd.user_id = $1 and d.tag = $8[1]';  -- as for a collection, above
  end if;
  -- Further tags (all of them when the walk is not over a tag) are checked per row.
  if cardinality(wanted) > 1 or (cardinality(wanted) = 1 and find_generations.collection_id is not null) then
    cond := cond || ' and (select count(*) from public.generation_tags t'
                    ' where t.generation_id = ' || ident || ' and t.tag = any ($8))'
                    ' = cardinality($8)';
  end if;

  cond := cond || case when in_trash then ' and g.trashed_at is not null'
                       else ' and g.trashed_at is null' end;
  if starred_only then
    cond := cond || ' and g.starred';
  end if;
  if with_model is not null then
    cond := cond || ' and g.model = $5';
  end if;
  if created_from is not null then
    cond := cond || format(' and %s >= $3', ts);
  end if;
  if created_to is not null then
    cond := cond || format(' and %s < $4', ts);
  end if;

  if search_text is not null then
    if length(btrim(search_text)) = 0 then
      raise exception 'search text must not be empty' using errcode = '22023';
    end if;
    if length(search_text) > 2000 then
      raise exception 'search text must be at most 2000 characters' using errcode = '22023';
    end if;
    -- The user's text is matched literally: \, % and _ are escaped.
    pattern := '%' || replace(replace(replace(btrim(search_text), '\', '\\'), '%', '\%'), '_', '\_') || '%';
    text_cond := ' and g.prompt ilike $6';
    term_keys := public.genvault_search_term_keys(me, btrim(search_text));
  end if;

  order_by := case sort when 'oldest' then '%1$s asc, %2$s asc'
                        when 'starred' then 'p.starred desc, %1$s desc, %2$s desc'
                        else '%1$s desc, %2$s desc' end;
  after_cursor := format(' and (%s, %s) %s ($10, $11)', ts, ident,
                         case when sort = 'oldest' then '>' else '<' end);
  -- One walk in the page's order: its extra conditions and row limit filled in below.
  walk := format(
    'select g.id, g.user_id, g.prompt, g.image_url, g.created_at, g.updated_at, g.model,'
    '       g.params, g.thumbnail_url, g.image_bytes, g.image_sha256, g.starred, g.trashed_at'
    '  from %s where %s %%s order by %s limit %%s',
    src, cond, format(replace(order_by, 'p.starred desc, ', ''), ts, ident));

  -- A text filter works as in search_generations: in newest or oldest order,
  -- the first 2,000 rows of the walk, if they hold a full page; otherwise the
  -- walk goes over the search index's candidates only.
  if search_text is not null and sort <> 'starred' then
    execute format(
      'select array(select w.id from (%s) w where w.prompt ilike $6 order by %s limit $2)',
      format(walk, case when cursor_created_at is null then '' else after_cursor end, '2000'),
      format(order_by, 'w.created_at', 'w.id'))
      into found
      using me, page_size, created_from, created_to, with_model, pattern,
            find_generations.collection_id, wanted, term_keys, cursor_created_at, cursor_id;
  end if;

  if cardinality(found) >= page_size then
    statement := format(walk, ' and g.id = any ($12)', '$2');
  else
    if cardinality(term_keys) > 0 then
      lead := 'with candidates as materialized (select g.* from public.user_generations g'
              ' where public.genvault_search_keys(g.user_id, g.prompt) @> $9) ';
      walk := replace(walk, 'public.user_generations g', 'candidates g');
    end if;
    if sort = 'starred' then
      -- Starred rows, then the others; the cursor says which part it is in.
      statement := format('(%s) union all (%s)',
        format(walk, coalesce(text_cond, '') || ' and g.starred' || case
          when cursor_starred is null then ''
          when cursor_starred then after_cursor
          else ' and false' end, '$2'),
        format(walk, coalesce(text_cond, '') || ' and not g.starred' || case
          when cursor_starred is false then after_cursor
          else '' end, '$2'));
    else
      statement := format(walk, coalesce(text_cond, '')
                          || case when cursor_created_at is null then '' else after_cursor end, '$2');
    end if;
  end if;

  return query execute format(
    '%s select p.*, public.genvault_tags_of(p.id) from (%s) p order by %s limit $2',
    coalesce(lead, ''), statement, format(order_by, 'p.created_at', 'p.id'))
    using me, page_size, created_from, created_to, with_model, pattern,
          find_generations.collection_id, wanted, term_keys, cursor_created_at, cursor_id,
          found[1:page_size];
end
$$;
comment on function public.find_generations(integer, text, timestamptz, uuid, boolean, text,
  timestamptz, timestamptz, text, boolean, uuid, text[], boolean) is
  'A page of the caller''s generations with their tags, filtered by any of: text, '
  'date range [from, to), model, starred, collection, tags (all of them), trash; '
  'sorted newest, oldest or starred first; keyset paging under every filter.';

-- Search is find_generations with a text, under the name and paging of
-- list_generations (generations.sql); trashed rows are left out.
create or replace function public.search_generations(
  search_text text,
  page_size integer default 50,
  before_created_at timestamptz default null,
  before_id uuid default null
) returns setof public.user_generations
language sql stable
set search_path = ''
as $$
  select f.id, f.user_id, f.prompt, f.image_url, f.created_at, f.updated_at, f.model,
         f.params, f.thumbnail_url, f.image_bytes, f.image_sha256, f.starred, f.trashed_at
    from public.find_generations(
           page_size => search_generations.page_size,
           search_text => coalesce(search_generations.search_text, ''),
           cursor_created_at => before_created_at,
           cursor_id => case when before_created_at is null then null
                             else coalesce(before_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid) end) f
$$;
comment on function public.search_generations(text, integer, timestamptz, uuid) is
  'Case-insensitive substring search over the caller''s prompts (not the trash), '
  'newest first, with the same keyset paging as list_generations. %, _ and \ '
  'match literally. find_generations does the work.';

-- -----------------------------------------------------------------------------
-- Favourites and trash
-- -----------------------------------------------------------------------------

-- The id lists every function below takes: at most 1000 at a time.
create or replace function public.genvault_check_ids(ids uuid[]) returns void
language plpgsql immutable
set search_path = ''
as $$
begin
  if ids is null or cardinality(ids) > 1000 then
    raise exception 'give between 0 and 1000 ids' using errcode = '22023';
  end if;
end
$$;
comment on function public.genvault_check_ids(uuid[]) is
  'Raises 22023 unless ids is a list of at most 1000.';

create or replace function public.star_generations(generation_ids uuid[], starred boolean default true)
returns setof uuid
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  me text := public.genvault_require_user();
begin
  perform public.genvault_check_ids(generation_ids);
  if star_generations.starred is null then
    raise exception 'starred must be true or false' using errcode = '22023';
  end if;
  return query
    update public.user_generations g
       set starred = star_generations.starred
     where g.id = any (generation_ids) and g.user_id = me
    returning g.id;
end
$$;
comment on function public.star_generations(uuid[], boolean) is
  'Stars (or with false unstars) the caller''s generations with these ids; returns '
  'the ids that are the caller''s. Other ids are ignored.';

create or replace function public.trash_generations(generation_ids uuid[])
returns setof uuid
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  me text := public.genvault_require_user();
begin
  perform public.genvault_check_ids(generation_ids);
  return query
    update public.user_generations g
       set trashed_at = now()
     where g.id = any (generation_ids) and g.user_id = me and g.trashed_at is null
    returning g.id;
end
$$;
comment on function public.trash_generations(uuid[]) is
  'Moves the caller''s generations to the trash (kept 30 days, then purged); returns '
  'the ids moved. Ids already in the trash, or not the caller''s, are ignored.';

create or replace function public.restore_generations(generation_ids uuid[])
returns setof uuid
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  me text := public.genvault_require_user();
begin
  perform public.genvault_check_ids(generation_ids);
  return query
    update public.user_generations g
       set trashed_at = null
     where g.id = any (generation_ids) and g.user_id = me and g.trashed_at is not null
    returning g.id;
end
$$;
comment on function public.restore_generations(uuid[]) is
  'Brings the caller''s generations back from the trash; returns the ids restored.';

create or replace function public.empty_trash(max_rows integer default 1000)
returns table (id uuid, removable_paths text[])
language plpgsql volatile
set search_path = ''
as $$
declare
  me text := public.genvault_require_user();
begin
  if max_rows is null or max_rows not between 1 and 1000 then
    raise exception 'max_rows must be between 1 and 1000' using errcode = '22023';
  end if;
  return query
    select d.id, d.removable_paths
      from public.delete_generations(array(
             select g.id from public.user_generations g
              where g.user_id = me and g.trashed_at is not null
              order by g.trashed_at limit max_rows)) d;
end
$$;
comment on function public.empty_trash(integer) is
  'Deletes for good up to max_rows of the caller''s trashed generations (oldest in '
  'the trash first) and returns, for each, the stored files to remove. Call again '
  'until it returns no row.';

-- At most 1000 rows a call: Supabase's API returns no more than that from one
-- call (PostgREST's db-max-rows) and would silently drop the rest, with their
-- files. Callers repeat the call until it returns no row.
create or replace function public.admin_purge_trash(
  older_than interval default interval '30 days',
  max_rows integer default 1000
) returns table (id uuid, user_id text, trashed_at timestamptz, removable_paths text[])
language plpgsql volatile security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  doomed uuid[];
begin
  perform public.genvault_require_operator();
  if older_than is null or older_than < interval '0' then
    raise exception 'older_than must not be negative' using errcode = '22023';
  end if;
  if max_rows is null or max_rows not between 1 and 1000 then
    raise exception 'max_rows must be between 1 and 1000' using errcode = '22023';
  end if;
  select coalesce(array_agg(g.id), '{}') into doomed
    from (select g.id from public.user_generations g
           where g.trashed_at < now() - older_than
           order by g.trashed_at, g.id
           limit max_rows) g;
  return query
    with gone as (
      delete from public.user_generations g
       where g.id = any (doomed)
      returning g.id, g.user_id, g.trashed_at, g.image_url, g.thumbnail_url
    )
    select d.id, d.user_id, d.trashed_at,
           public.genvault_unreferenced_paths(d.user_id, array[d.image_url, d.thumbnail_url], doomed)
      from gone d;
end
$$;
comment on function public.admin_purge_trash(interval, integer) is
  'Operators: deletes for good up to max_rows (at most 1000) generations that have been '
  'in the trash longer than older_than (30 days by default), returning the stored files '
  'to remove; call again until it returns no row. Schedule it (for example with pg_cron on Supabase, or `gen admin purge-trash` from '
  'cron, which also removes the files).';

-- -----------------------------------------------------------------------------
-- Tags
-- -----------------------------------------------------------------------------
create or replace function public.tag_generations(generation_ids uuid[], tags text[])
returns integer
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  me text := public.genvault_require_user();
  wanted text[] := public.genvault_normalise_tags(tag_generations.tags);
  added integer;
begin
  perform public.genvault_check_ids(generation_ids);
  if wanted is null or cardinality(wanted) = 0 then
    raise exception 'no tag given' using errcode = '22023', hint = 'give at least one tag';
  end if;
  -- More than 20 at once can never fit; genvault_limit_tags counts the rest.
  if cardinality(wanted) > 20 then
    raise exception 'too many tags' using errcode = '22023',
      hint = 'an image can have at most 20';
  end if;
  insert into public.generation_tags (generation_id, tag, user_id, generation_created_at)
  select g.id, w.tag, me, g.created_at
    from public.user_generations g, unnest(wanted) as w(tag)
   where g.id = any (generation_ids) and g.user_id = me
   order by g.id, w.tag
  on conflict do nothing;
  get diagnostics added = row_count;
  return added;
end
$$;
comment on function public.tag_generations(uuid[], text[]) is
  'Adds tags (trimmed, lower-cased) to the caller''s generations with these ids; '
  'returns how many tags were new. 22023 past 20 tags on one generation.';

create or replace function public.untag_generations(generation_ids uuid[], tags text[])
returns integer
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  me text := public.genvault_require_user();
  wanted text[] := public.genvault_normalise_tags(untag_generations.tags);
  removed integer;
begin
  perform public.genvault_check_ids(generation_ids);
  if wanted is null or cardinality(wanted) = 0 then
    raise exception 'no tag given' using errcode = '22023', hint = 'give at least one tag';
  end if;
  delete from public.generation_tags t
   where t.generation_id = any (generation_ids) and t.user_id = me and t.tag = any (wanted);
  get diagnostics removed = row_count;
  return removed;
end
$$;
comment on function public.untag_generations(uuid[], text[]) is
  'Removes tags from the caller''s generations with these ids; returns how many.';

create or replace function public.my_tags()
returns table (tag text, images bigint)
language sql stable
set search_path = ''
as $$
  select t.tag, count(*)
    from public.generation_tags t
    join public.user_generations g on g.id = t.generation_id
   where t.user_id = public.genvault_require_user()
     and g.trashed_at is null
   group by t.tag
   order by count(*) desc, t.tag
$$;
comment on function public.my_tags() is
  'The caller''s tags with how many generations in the history carry each, most used first.';

-- -----------------------------------------------------------------------------
-- Collections
-- -----------------------------------------------------------------------------
create or replace function public.genvault_collection_name(name text) returns text
language plpgsql immutable
set search_path = ''
as $$
begin
  if name is null or length(btrim(name)) = 0 then
    raise exception 'a collection needs a name' using errcode = '22023';
  end if;
  if length(btrim(name)) > 100 then
    raise exception 'a collection name must be at most 100 characters' using errcode = '22023';
  end if;
  return btrim(name);
end
$$;
comment on function public.genvault_collection_name(text) is
  'A collection name as stored (trimmed), or 22023 when empty or too long.';

create or replace function public.create_collection(name text)
returns setof public.collections
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  me text := public.genvault_require_user();
begin
  return query
    insert into public.collections (user_id, name)
    values (me, public.genvault_collection_name(create_collection.name))
    returning *;
exception when unique_violation then
  raise exception 'you already have a collection named "%"', btrim(create_collection.name)
    using errcode = '55000', hint = 'Pick another name, or add to the existing one.';
end
$$;
comment on function public.create_collection(text) is
  'Creates a collection of the caller''s; 55000 if they have one of that name '
  '(compared case-insensitively).';

create or replace function public.rename_collection(collection_id uuid, name text)
returns setof public.collections
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  me text := public.genvault_require_user();
  renamed public.collections;
begin
  begin
    update public.collections c
       set name = public.genvault_collection_name(rename_collection.name)
     where c.id = rename_collection.collection_id and c.user_id = me
    returning * into renamed;
  exception when unique_violation then
    raise exception 'you already have a collection named "%"', btrim(rename_collection.name)
      using errcode = '55000', hint = 'Pick another name.';
  end;
  if renamed.id is null then
    raise exception 'collection not found' using errcode = 'P0002',
      hint = 'List your collections with `gen collection list`.';
  end if;
  return next renamed;
end
$$;
comment on function public.rename_collection(uuid, text) is
  'Renames a collection of the caller''s (P0002 if they have none with that id).';

create or replace function public.delete_collection(collection_id uuid)
returns boolean
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  me text := public.genvault_require_user();
begin
  delete from public.collections c
   where c.id = delete_collection.collection_id and c.user_id = me;
  return found;
end
$$;
comment on function public.delete_collection(uuid) is
  'Deletes a collection of the caller''s (its images stay in the history, and its '
  'shares and links end); false when there was none.';

create or replace function public.my_collections()
returns table (id uuid, name text, images bigint, created_at timestamptz, updated_at timestamptz)
language sql stable
set search_path = ''
as $$
  select c.id, c.name,
         (select count(*) from public.collection_items i
            join public.user_generations g on g.id = i.generation_id
           where i.collection_id = c.id and g.trashed_at is null),
         c.created_at, c.updated_at
    from public.collections c
   where c.user_id = public.genvault_require_user()
   order by lower(c.name), c.id
$$;
comment on function public.my_collections() is
  'The caller''s collections, by name, with how many images in the history each holds.';

create or replace function public.genvault_owned_collection(collection_id uuid, owner text)
returns void
language plpgsql stable
set search_path = ''
as $$
begin
  if not exists (select from public.collections c
                  where c.id = genvault_owned_collection.collection_id and c.user_id = owner) then
    raise exception 'collection not found' using errcode = 'P0002',
      hint = 'List your collections with `gen collection list`.';
  end if;
end
$$;
comment on function public.genvault_owned_collection(uuid, text) is
  'Raises P0002 unless owner has a collection with this id.';

create or replace function public.add_to_collection(collection_id uuid, generation_ids uuid[])
returns integer
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  me text := public.genvault_require_user();
  added integer;
begin
  perform public.genvault_check_ids(generation_ids);
  perform public.genvault_owned_collection(add_to_collection.collection_id, me);
  insert into public.collection_items (collection_id, generation_id, user_id, generation_created_at)
  select add_to_collection.collection_id, g.id, me, g.created_at
    from public.user_generations g
   where g.id = any (generation_ids) and g.user_id = me
   order by g.id
  on conflict do nothing;
  get diagnostics added = row_count;
  update public.collections c set updated_at = now()
   where c.id = add_to_collection.collection_id and added > 0;
  return added;
end
$$;
comment on function public.add_to_collection(uuid, uuid[]) is
  'Adds the caller''s generations with these ids to their collection; returns how '
  'many were not in it yet. Ids that are not the caller''s are ignored.';

create or replace function public.remove_from_collection(collection_id uuid, generation_ids uuid[])
returns integer
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  me text := public.genvault_require_user();
  removed integer;
begin
  perform public.genvault_check_ids(generation_ids);
  perform public.genvault_owned_collection(remove_from_collection.collection_id, me);
  delete from public.collection_items i
   where i.collection_id = remove_from_collection.collection_id
     and i.user_id = me
     and i.generation_id = any (generation_ids);
  get diagnostics removed = row_count;
  update public.collections c set updated_at = now()
   where c.id = remove_from_collection.collection_id and removed > 0;
  return removed;
end
$$;
comment on function public.remove_from_collection(uuid, uuid[]) is
  'Takes generations out of the caller''s collection (they stay in the history); '
  'returns how many were removed.';

-- -----------------------------------------------------------------------------
-- Sharing with another user
-- -----------------------------------------------------------------------------

-- Exactly one of a generation and a collection, and it must be the caller's
-- (and a generation must be in the history, not the trash).
create or replace function public.genvault_check_share_target(
  owner text, generation_id uuid, collection_id uuid
) returns void
language plpgsql stable
set search_path = ''
as $$
begin
  if num_nonnulls(generation_id, collection_id) <> 1 then
    raise exception 'share either one generation or one collection' using errcode = '22023';
  end if;
  if generation_id is not null and not exists (
       select from public.user_generations g
        where g.id = genvault_check_share_target.generation_id
          and g.user_id = owner and g.trashed_at is null) then
    raise exception 'generation not found' using errcode = 'P0002',
      hint = 'List your ids with `gen list`.';
  end if;
  if collection_id is not null then
    perform public.genvault_owned_collection(collection_id, owner);
  end if;
end
$$;
comment on function public.genvault_check_share_target(text, uuid, uuid) is
  'Raises unless exactly one target is given and owner owns it.';

create or replace function public.share_with(
  email text,
  generation_id uuid default null,
  collection_id uuid default null
) returns table (id uuid, recipient_email text, created_at timestamptz)
language plpgsql volatile security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  me text := public.genvault_require_user();
  recipient text;
begin
  perform public.genvault_check_share_target(me, share_with.generation_id, share_with.collection_id);
  select u.id::text into recipient
    from auth.users u
   where lower(u.email) = lower(btrim(share_with.email));
  if recipient is null then
    raise exception 'no genvault user has the email address %', btrim(share_with.email)
      using errcode = 'P0002', hint = 'Ask them to sign up first, or create a public link.';
  end if;
  if recipient = me then
    raise exception 'you cannot share with yourself' using errcode = '22023',
      hint = 'Give the email address of another genvault user.';
  end if;
  if not exists (select from public.user_credits c where c.user_id = recipient) then
    raise exception 'no genvault user has the email address %', btrim(share_with.email)
      using errcode = 'P0002', hint = 'Ask them to sign up first, or create a public link.';
  end if;
  insert into public.shares (owner_id, recipient_id, generation_id, collection_id)
  values (me, recipient, share_with.generation_id, share_with.collection_id)
  on conflict do nothing;
  return query
    select s.id, lower(btrim(share_with.email)), s.created_at
      from public.shares s
     where s.owner_id = me and s.recipient_id = recipient
       and s.generation_id is not distinct from share_with.generation_id
       and s.collection_id is not distinct from share_with.collection_id;
end
$$;
comment on function public.share_with(text, uuid, uuid) is
  'Lets the user with this email see one of the caller''s generations or collections, '
  'read-only, until unshare(). Sharing the same thing twice is one share.';

create or replace function public.unshare(share_id uuid)
returns boolean
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  me text := public.genvault_require_user();
begin
  delete from public.shares s
   where s.id = unshare.share_id and s.owner_id = me;
  return found;
end
$$;
comment on function public.unshare(uuid) is
  'Ends one of the caller''s shares at once; false when they have none with that id.';

create or replace function public.my_shares()
returns table (id uuid, recipient_email text, generation_id uuid, collection_id uuid,
               collection_name text, created_at timestamptz)
language sql stable security definer
set search_path = ''
as $$
  select s.id, u.email::text, s.generation_id, s.collection_id, c.name, s.created_at
    from public.shares s
    left join auth.users u on u.id::text = s.recipient_id
    left join public.collections c on c.id = s.collection_id
   where s.owner_id = public.genvault_require_user()
   order by s.created_at desc, s.id
$$;
comment on function public.my_shares() is
  'What the caller has shared, with whom (their email), newest first.';

create or replace function public.shared_with_me()
returns table (id uuid, shared_by text, generation_id uuid, collection_id uuid,
               collection_name text, images bigint, created_at timestamptz)
language sql stable security definer
set search_path = ''
as $$
  select s.id, u.email::text, s.generation_id, s.collection_id, c.name,
         case when s.generation_id is not null then 1
              else (select count(*) from public.collection_items i
                      join public.user_generations g on g.id = i.generation_id
                     where i.collection_id = s.collection_id and g.trashed_at is null) end,
         s.created_at
    from public.shares s
    left join auth.users u on u.id::text = s.owner_id
    left join public.collections c on c.id = s.collection_id
   where s.recipient_id = public.genvault_require_user()
     and (s.generation_id is null
          or exists (select from public.user_generations g
                      where g.id = s.generation_id and g.trashed_at is null))
   order by s.created_at desc, s.id
$$;
comment on function public.shared_with_me() is
  'What other users have shared with the caller, who shared it (their email), newest '
  'first. Images their owner has trashed are left out.';

-- Whether a stored file (image or thumbnail) belongs to a generation shared
-- with the caller, alone or in a collection, and not in the trash. Supabase
-- Storage asks this through the policy in storage_sharing.sql.
create or replace function public.genvault_is_shared_file(path text)
returns boolean
language sql stable security definer
set search_path = ''
as $$
  select exists (
    select
      from public.user_generations g
      join public.shares s on s.owner_id = g.user_id
     where (g.image_url = path or g.thumbnail_url = path)
       and g.user_id = split_part(path, '/', 1)
       and g.trashed_at is null
       and s.recipient_id = (select auth.uid())::text
       and (s.generation_id = g.id
            or exists (select from public.collection_items i
                        where i.collection_id = s.collection_id and i.generation_id = g.id)))
$$;
comment on function public.genvault_is_shared_file(text) is
  'True when path is the image or thumbnail of a generation shared with the caller '
  '(and not trashed): lets Storage serve shared files, read-only.';

-- The read-only copy of a generation that a share or a public link shows:
-- enough to look at and download it, nothing of the owner's other data.
create or replace function public.shared_generations(
  share_id uuid default null,
  page_size integer default 50,
  cursor_created_at timestamptz default null,
  cursor_id uuid default null,
  only_generation uuid default null
) returns table (id uuid, prompt text, image_url text, thumbnail_url text,
                 created_at timestamptz, model text, params jsonb, image_bytes bigint,
                 image_sha256 text, shared_by text, via_share uuid)
language plpgsql stable security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  me text := public.genvault_require_user();
begin
  if page_size is null or page_size not between 1 and 1001 then
    raise exception 'page size must be between 1 and 1000' using errcode = '22023';
  end if;
  if (cursor_created_at is null) <> (cursor_id is null) then
    raise exception 'malformed page cursor' using errcode = '22023';
  end if;
  -- A generation shared twice (alone and in a collection, say) is listed once.
  return query
    with reachable as (
      select s.id as share_id, s.owner_id, s.generation_id
        from public.shares s
       where s.recipient_id = me and s.generation_id is not null
      union all
      select s.id, s.owner_id, i.generation_id
        from public.shares s
        join public.collection_items i on i.collection_id = s.collection_id
       where s.recipient_id = me
    )
    select distinct on (g.created_at, g.id)
           g.id, g.prompt, g.image_url, g.thumbnail_url, g.created_at, g.model, g.params,
           g.image_bytes, g.image_sha256, u.email::text, r.share_id
      from reachable r
      join public.user_generations g on g.id = r.generation_id and g.user_id = r.owner_id
      left join auth.users u on u.id::text = r.owner_id
     where (shared_generations.share_id is null or r.share_id = shared_generations.share_id)
       and (only_generation is null or g.id = only_generation)
       and g.trashed_at is null
       and (cursor_created_at is null or (g.created_at, g.id) < (cursor_created_at, cursor_id))
     order by g.created_at desc, g.id desc, r.share_id
     limit page_size;
end
$$;
comment on function public.shared_generations(uuid, integer, timestamptz, uuid, uuid) is
  'Generations shared with the caller (one share''s, or all, or the one with id '
  'only_generation), newest first, with who shared each. Read-only copies: the '
  'caller can look and download, nothing more.';

-- -----------------------------------------------------------------------------
-- Public links
-- -----------------------------------------------------------------------------

-- The token is 64 hex digits drawn from two random UUIDs (244 random bits from
-- the server's strong random source); only its SHA-256 is stored, so the table
-- cannot be used to open links.
create or replace function public.create_public_link(
  generation_id uuid default null,
  collection_id uuid default null,
  expires_in interval default interval '7 days'
) returns table (id uuid, token text, expires_at timestamptz)
language plpgsql volatile security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  me text := public.genvault_require_user();
  secret text := replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
  link public.public_links;
begin
  perform public.genvault_check_share_target(me, create_public_link.generation_id,
                                             create_public_link.collection_id);
  if expires_in is null or expires_in < interval '1 minute' or expires_in > interval '366 days' then
    raise exception 'a link must expire between 1 minute and 366 days from now'
      using errcode = '22023', hint = 'For example 7 days: interval ''7 days''.';
  end if;
  insert into public.public_links (owner_id, token_sha256, generation_id, collection_id, expires_at)
  values (me, sha256(convert_to(secret, 'UTF8')), create_public_link.generation_id,
          create_public_link.collection_id, now() + expires_in)
  returning * into link;
  return query select link.id, secret, link.expires_at;
end
$$;
comment on function public.create_public_link(uuid, uuid, interval) is
  'A link token that shows one of the caller''s generations or collections to anyone '
  'who has it, without an account, until it expires (7 days by default) or is revoked. '
  'The token is returned once and never stored.';

create or replace function public.revoke_public_link(link_id uuid)
returns boolean
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  me text := public.genvault_require_user();
begin
  update public.public_links l
     set revoked_at = now()
   where l.id = revoke_public_link.link_id
     and l.owner_id = me
     and l.revoked_at is null;
  return found;
end
$$;
comment on function public.revoke_public_link(uuid) is
  'Ends one of the caller''s links at once; false when they have no open link with that id.';

create or replace function public.my_public_links()
returns table (id uuid, generation_id uuid, collection_id uuid, collection_name text,
               created_at timestamptz, expires_at timestamptz, revoked_at timestamptz,
               active boolean)
language sql stable
set search_path = ''
as $$
  select l.id, l.generation_id, l.collection_id, c.name, l.created_at, l.expires_at,
         l.revoked_at, l.revoked_at is null and l.expires_at > now()
    from public.public_links l
    left join public.collections c on c.id = l.collection_id
   where l.owner_id = public.genvault_require_user()
   order by l.created_at desc, l.id
$$;
comment on function public.my_public_links() is
  'The caller''s links, newest first, and whether each still opens.';

-- Anyone with a token (signed in or not) sees what it points at, read-only.
-- An unknown, revoked or expired token shows nothing, the same way each time.
create or replace function public.open_public_link(
  token text,
  page_size integer default 50,
  cursor_created_at timestamptz default null,
  cursor_id uuid default null
) returns table (id uuid, prompt text, image_url text, thumbnail_url text,
                 created_at timestamptz, model text, image_bytes bigint, image_sha256 text,
                 shared_by text, collection_name text, expires_at timestamptz)
language plpgsql stable security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  link public.public_links;
begin
  if page_size is null or page_size not between 1 and 1001 then
    raise exception 'page size must be between 1 and 1000' using errcode = '22023';
  end if;
  if (cursor_created_at is null) <> (cursor_id is null) then
    raise exception 'malformed page cursor' using errcode = '22023';
  end if;
  if token is null or token !~ '^[0-9a-f]{64}$' then
    return;
  end if;
  select l.* into link
    from public.public_links l
   where l.token_sha256 = sha256(convert_to(open_public_link.token, 'UTF8'))
     and l.revoked_at is null
     and l.expires_at > now();
  if link.id is null then
    return;
  end if;
  -- Who shared it is shown as the part of their email before the @.
  return query
    select g.id, g.prompt, g.image_url, g.thumbnail_url, g.created_at, g.model,
           g.image_bytes, g.image_sha256,
           (select split_part(u.email::text, '@', 1) from auth.users u where u.id::text = link.owner_id),
           (select c.name from public.collections c where c.id = link.collection_id),
           link.expires_at
      from public.user_generations g
     where g.user_id = link.owner_id
       and g.trashed_at is null
       and (g.id = link.generation_id
            or g.id in (select i.generation_id from public.collection_items i
                         where i.collection_id = link.collection_id))
       and (cursor_created_at is null or (g.created_at, g.id) < (cursor_created_at, cursor_id))
     order by g.created_at desc, g.id desc
     limit page_size;
end
$$;
comment on function public.open_public_link(text, integer, timestamptz, uuid) is
  'What a public link shows (one generation, or a page of a collection), newest first, '
  'for anyone holding its token; nothing once it is revoked or expired.';

-- -----------------------------------------------------------------------------
-- Prompt templates
-- -----------------------------------------------------------------------------

-- Placeholders are {name}: a letter or underscore, then letters, digits or
-- underscores. Any other brace is an ordinary character.
create or replace function public.genvault_placeholders(prompt text) returns text[]
language sql immutable
set search_path = ''
as $$
  select coalesce(array_agg(distinct m[1] order by m[1]), '{}')
    from regexp_matches(prompt, '\{([A-Za-z_][A-Za-z0-9_]*)\}', 'g') as m
$$;
comment on function public.genvault_placeholders(text) is
  'The placeholder names in a template prompt, sorted.';

create or replace function public.save_template(
  name text,
  prompt text,
  model text default null,
  params jsonb default '{}'::jsonb
) returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  me text := public.genvault_require_user();
  clean text := btrim(save_template.name);
  clean_prompt text;
  saved public.prompt_templates;
begin
  if clean is null or length(clean) not between 1 and 100 then
    raise exception 'a template needs a name of 1 to 100 characters' using errcode = '22023';
  end if;
  -- The prompt rule, on the template as written (placeholders count as written).
  clean_prompt := public.check_prompt(save_template.prompt);
  if save_template.params is not null and jsonb_typeof(save_template.params) <> 'object' then
    raise exception 'params must be a JSON object' using errcode = '22023';
  end if;
  update public.prompt_templates t
     set name = clean, prompt = clean_prompt, model = save_template.model,
         params = coalesce(save_template.params, '{}'::jsonb)
   where t.user_id = me and lower(t.name) = lower(clean)
  returning * into saved;
  if saved.id is null then
    insert into public.prompt_templates (user_id, name, prompt, model, params)
    values (me, clean, clean_prompt, save_template.model,
            coalesce(save_template.params, '{}'::jsonb))
    returning * into saved;
  end if;
  return to_jsonb(saved) - 'user_id'
         || jsonb_build_object('placeholders', to_jsonb(public.genvault_placeholders(saved.prompt)));
end
$$;
comment on function public.save_template(text, text, text, jsonb) is
  'Saves (or replaces, by name) one of the caller''s prompt templates; returns it, '
  'with the placeholders it needs, as one JSON object.';

create or replace function public.my_templates()
returns table (id uuid, name text, prompt text, model text, params jsonb,
               placeholders text[], created_at timestamptz, updated_at timestamptz)
language sql stable
set search_path = ''
as $$
  select t.id, t.name, t.prompt, t.model, t.params, public.genvault_placeholders(t.prompt),
         t.created_at, t.updated_at
    from public.prompt_templates t
   where t.user_id = public.genvault_require_user()
   order by lower(t.name)
$$;
comment on function public.my_templates() is
  'The caller''s prompt templates by name, with the placeholders each needs.';

create or replace function public.delete_template(name text)
returns boolean
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  me text := public.genvault_require_user();
begin
  delete from public.prompt_templates t
   where t.user_id = me
     and lower(t.name) = lower(btrim(delete_template.name));
  return found;
end
$$;
comment on function public.delete_template(text) is
  'Deletes one of the caller''s templates by name; false when there was none.';

-- Fills a template's placeholders. Every placeholder needs a value and every
-- value a placeholder, so a typo in either is an error, not a silent prompt.
create or replace function public.render_template(name text, vals jsonb default '{}'::jsonb)
returns table (prompt text, model text, params jsonb)
language plpgsql stable
set search_path = ''
as $$
#variable_conflict use_column
declare
  me text := public.genvault_require_user();
  tpl public.prompt_templates;
  needed text[];
  given text[];
  missing text[];
  unknown text[];
  out_prompt text;
  rest text;
  found_name text;
  at integer;
  key text;
begin
  if vals is null or jsonb_typeof(vals) <> 'object' then
    raise exception 'values must be a JSON object of name to text' using errcode = '22023';
  end if;
  select t.* into tpl
    from public.prompt_templates t
   where t.user_id = me and lower(t.name) = lower(btrim(render_template.name));
  if tpl.id is null then
    raise exception 'no template named "%"', btrim(render_template.name) using errcode = 'P0002',
      hint = 'List your templates with `gen template list`.';
  end if;
  needed := public.genvault_placeholders(tpl.prompt);
  select coalesce(array_agg(k order by k), '{}') into given from jsonb_object_keys(vals) as k;
  select coalesce(array_agg(n order by n), '{}') into missing from unnest(needed) n where not n = any (given);
  select coalesce(array_agg(g order by g), '{}') into unknown from unnest(given) g where not g = any (needed);
  if cardinality(missing) > 0 then
    raise exception 'template "%" needs a value for %', tpl.name, array_to_string(missing, ', ')
      using errcode = '22023', hint = format('Give each with --set %s=...', missing[1]);
  end if;
  if cardinality(unknown) > 0 then
    raise exception 'template "%" has no placeholder %', tpl.name, array_to_string(unknown, ', ')
      using errcode = '22023',
            hint = format('Its placeholders are: %s.', coalesce(nullif(array_to_string(needed, ', '), ''), 'none'));
  end if;
  foreach key in array needed loop
    if jsonb_typeof(vals -> key) <> 'string' then
      raise exception 'the value for % must be text', key using errcode = '22023';
    end if;
  end loop;
  -- One pass from left to right, so a value that itself looks like a
  -- placeholder is left as it is.
  out_prompt := '';
  rest := tpl.prompt;
  loop
    found_name := (regexp_match(rest, '\{([A-Za-z_][A-Za-z0-9_]*)\}'))[1];
    exit when found_name is null;
    at := position('{' || found_name || '}' in rest);
    out_prompt := out_prompt || left(rest, at - 1) || (vals ->> found_name);
    rest := substr(rest, at + length(found_name) + 2);
  end loop;
  out_prompt := out_prompt || rest;
  -- The filled-in prompt is a prompt like any other.
  return query select public.check_prompt(out_prompt), tpl.model, tpl.params;
end
$$;
comment on function public.render_template(text, jsonb) is
  'The prompt, model and settings of one of the caller''s templates, with each '
  '{placeholder} replaced by its value from vals; 22023 for a missing or unknown name, '
  'or a filled-in prompt that check_prompt refuses.';

-- -----------------------------------------------------------------------------
-- Grants: users read their own rows through RLS and write only through the
-- functions; anon may only open a public link.
-- -----------------------------------------------------------------------------
revoke all on public.collections, public.collection_items, public.generation_tags,
  public.shares, public.public_links, public.prompt_templates
  from public, anon, authenticated;
-- Read-only, so that a client may page through its own rows with PostgREST's
-- filters; every change is one of the functions below.
grant select on public.collections, public.collection_items, public.generation_tags,
  public.shares, public.public_links, public.prompt_templates
  to authenticated;
grant all on public.collections, public.collection_items, public.generation_tags,
  public.shares, public.public_links, public.prompt_templates
  to service_role;

revoke execute on function
  public.genvault_limit_tags(),
  public.genvault_check_collection_item(),
  public.genvault_tags_of(uuid),
  public.genvault_normalise_tags(text[]),
  public.genvault_check_ids(uuid[]),
  public.genvault_collection_name(text),
  public.genvault_owned_collection(uuid, text),
  public.genvault_check_share_target(text, uuid, uuid),
  public.genvault_placeholders(text),
  public.find_generations(integer, text, timestamptz, uuid, boolean, text, timestamptz,
                          timestamptz, text, boolean, uuid, text[], boolean),
  public.search_generations(text, integer, timestamptz, uuid),
  public.star_generations(uuid[], boolean),
  public.trash_generations(uuid[]),
  public.restore_generations(uuid[]),
  public.empty_trash(integer),
  public.admin_purge_trash(interval, integer),
  public.tag_generations(uuid[], text[]),
  public.untag_generations(uuid[], text[]),
  public.my_tags(),
  public.create_collection(text),
  public.rename_collection(uuid, text),
  public.delete_collection(uuid),
  public.my_collections(),
  public.add_to_collection(uuid, uuid[]),
  public.remove_from_collection(uuid, uuid[]),
  public.share_with(text, uuid, uuid),
  public.unshare(uuid),
  public.my_shares(),
  public.shared_with_me(),
  public.shared_generations(uuid, integer, timestamptz, uuid, uuid),
  public.create_public_link(uuid, uuid, interval),
  public.revoke_public_link(uuid),
  public.my_public_links(),
  public.open_public_link(text, integer, timestamptz, uuid),
  public.save_template(text, text, text, jsonb),
  public.my_templates(),
  public.delete_template(text),
  public.render_template(text, jsonb),
  public.genvault_is_shared_file(text)
  from public, anon, authenticated, service_role;

-- A helper that runs inside the caller's own (SECURITY INVOKER) functions:
-- my_templates() and render_template() list placeholders. The other helpers
-- run only inside SECURITY DEFINER functions and are not granted to anybody.
grant execute on function public.genvault_placeholders(text) to authenticated;

grant execute on function
  public.find_generations(integer, text, timestamptz, uuid, boolean, text, timestamptz,
                          timestamptz, text, boolean, uuid, text[], boolean),
  public.search_generations(text, integer, timestamptz, uuid),
  public.star_generations(uuid[], boolean),
  public.trash_generations(uuid[]),
  public.restore_generations(uuid[]),
  public.empty_trash(integer),
  public.tag_generations(uuid[], text[]),
  public.untag_generations(uuid[], text[]),
  public.my_tags(),
  public.create_collection(text),
  public.rename_collection(uuid, text),
  public.delete_collection(uuid),
  public.my_collections(),
  public.add_to_collection(uuid, uuid[]),
  public.remove_from_collection(uuid, uuid[]),
  public.share_with(text, uuid, uuid),
  public.unshare(uuid),
  public.my_shares(),
  public.shared_with_me(),
  public.shared_generations(uuid, integer, timestamptz, uuid, uuid),
  public.create_public_link(uuid, uuid, interval),
  public.revoke_public_link(uuid),
  public.my_public_links(),
  public.save_template(text, text, text, jsonb),
  public.my_templates(),
  public.delete_template(text),
  public.render_template(text, jsonb)
  to authenticated;

-- Storage's policy for share recipients runs it as the signed-in reader.
grant execute on function public.genvault_is_shared_file(text) to authenticated;

-- A visitor without an account opens a link as anon.
grant execute on function public.open_public_link(text, integer, timestamptz, uuid)
  to anon, authenticated;

grant execute on function public.admin_purge_trash(interval, integer) to service_role;

-- -----------------------------------------------------------------------------
-- Ids by prefix
-- -----------------------------------------------------------------------------
-- Tables show the first 8 characters of an id, and every command accepts
-- them. A prefix of hex digits is the range of ids from the prefix padded with
-- 0s to the prefix padded with fs, which the primary key serves. Only the
-- caller's own rows match (the owner filter below, and RLS under it), so a
-- prefix of another user's id finds nothing, exactly like an unused one.
create or replace function public.generations_by_id_prefix(
  id_prefix text,
  in_trash boolean default false
) returns setof public.user_generations
language plpgsql stable
set search_path = ''
as $$
declare
  me text := public.genvault_require_user();
begin
  if id_prefix is null or id_prefix !~ '^[0-9a-f]{1,32}$' then
    raise exception 'an id prefix is 1 to 32 hexadecimal digits' using errcode = '22023',
      hint = 'Give the first characters of the id, without dashes.';
  end if;
  -- Two rows are enough to tell a unique prefix from an ambiguous one.
  return query
    select g.*
      from public.user_generations g
     where g.id between rpad(id_prefix, 32, '0')::uuid and rpad(id_prefix, 32, 'f')::uuid
       and g.user_id = me
       and (in_trash is null or (g.trashed_at is not null) = in_trash)
     order by g.id
     limit 2;
end
$$;
comment on function public.generations_by_id_prefix(text, boolean) is
  'At most two of the caller''s generations whose id starts with these hex digits (in the '
  'history, the trash, or either when in_trash is null): one names a generation, two say '
  'the prefix is ambiguous. Other users'' ids never match.';

revoke all on function public.generations_by_id_prefix(text, boolean)
  from public, anon, authenticated, service_role;
grant execute on function public.generations_by_id_prefix(text, boolean) to authenticated;
