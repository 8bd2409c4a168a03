-- =============================================================================
-- genvault: generations, the history of each user's images.
--
-- Paste this into the Supabase SQL editor after credits.sql (or run
-- `gen db migrate`). Idempotent: applying it again changes nothing.
--
-- Every row belongs to one user, and Row Level Security lets each signed-in
-- user see only their own rows, whichever way they reach the database. The
-- functions at the end are what the genvault library calls; the read
-- functions run with the caller's rights, so RLS applies to them too. The
-- rule every prompt must pass lives here too (check_prompt), and every
-- function that writes a prompt applies it.
--
-- Search (search_generations, find_generations) lives in organising.sql, its
-- index in history_at_scale.sql.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- Path rule used by the table's checks
-- -----------------------------------------------------------------------------
create or replace function public.genvault_is_owned_path(path text, owner text)
returns boolean
language sql immutable
set search_path = ''
as $$
  select path ~ '^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+$'
     and position('..' in path) = 0
     and split_part(path, '/', 1) = owner
$$;
comment on function public.genvault_is_owned_path(text, text) is
  'True when path is a relative storage path whose first folder is owner, with no '
  '".." and no odd characters: the per-user folder layout that storage policies check.';

-- -----------------------------------------------------------------------------
-- Table
-- -----------------------------------------------------------------------------
create table if not exists public.user_generations (
  id uuid primary key default gen_random_uuid(),
  user_id text not null references public.user_credits (user_id) on delete cascade,
  prompt text not null,
  image_url text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  model text not null default 'unknown',
  params jsonb not null default '{}'::jsonb,
  thumbnail_url text,
  image_bytes bigint,
  image_sha256 text,
  starred boolean not null default false,
  trashed_at timestamptz,
  constraint user_generations_prompt_length
    check (length(btrim(prompt)) between 1 and 2000),
  constraint user_generations_image_url_shape
    check (image_url ~ '^https://[^\s]+$' or public.genvault_is_owned_path(image_url, user_id)),
  constraint user_generations_thumbnail_url_shape
    check (thumbnail_url is null or thumbnail_url ~ '^https://[^\s]+$'
           or public.genvault_is_owned_path(thumbnail_url, user_id)),
  constraint user_generations_params_object check (jsonb_typeof(params) = 'object'),
  constraint user_generations_image_bytes check (image_bytes is null or image_bytes >= 0),
  constraint user_generations_image_sha256 check (image_sha256 is null or image_sha256 ~ '^[0-9a-f]{64}$')
);
comment on table public.user_generations is
  'One row per generated image: who made it, from which prompt, and where its bytes '
  'are kept. Rows are private to their owner (RLS).';
comment on column public.user_generations.user_id is 'auth.users.id as text; the owner.';
comment on column public.user_generations.image_url is
  'Where the full image lives: a storage path "<user_id>/<file>" in genvault''s '
  'bucket or local store (the first segment must be the owner), or an https URL '
  'for rows written by other clients. Never a model provider''s temporary URL.';
comment on column public.user_generations.model is
  'The image model that made it (for example black-forest-labs/flux-schnell).';
comment on column public.user_generations.params is
  'The model settings used (aspect_ratio, seed, ...), so a generation can be repeated.';
comment on column public.user_generations.thumbnail_url is
  'A small WebP beside the image, same path rules as image_url; drawn by galleries.';
comment on column public.user_generations.image_bytes is
  'Size of the stored image in bytes: storage estimates and export progress.';
comment on column public.user_generations.image_sha256 is
  'SHA-256 of the stored image: exports verify and resume against it.';
comment on column public.user_generations.starred is
  'A favourite of its owner: can be listed on its own or first.';
comment on column public.user_generations.trashed_at is
  'When its owner moved it to the trash; NULL while it is in the history. History, '
  'search and statistics leave trashed rows out; after 30 days a purge removes them.';

-- -----------------------------------------------------------------------------
-- Indexes
-- -----------------------------------------------------------------------------
create index if not exists user_generations_user_created_idx
  on public.user_generations (user_id, created_at desc, id desc);
comment on index public.user_generations_user_created_idx is
  'History pages: "my newest first", paged by (created_at, id) keyset. Also the '
  'index the RLS filter on user_id uses.';

-- genvault_unreferenced_paths (on delete and retention clean-up) and
-- referenced_paths (the storage sweep) look rows up by the exact path. Hash
-- indexes answer equality only, which is all these questions ask, in a
-- fraction of the size of a b-tree over paths of 80-odd characters.
create index if not exists user_generations_image_url_idx
  on public.user_generations using hash (image_url);
comment on index public.user_generations_image_url_idx is
  'Which rows use this stored image: delete and clean-up keep files still in use.';
create index if not exists user_generations_thumbnail_url_idx
  on public.user_generations using hash (thumbnail_url);
comment on index public.user_generations_thumbnail_url_idx is
  'Which rows use this stored thumbnail: delete and clean-up keep files still in use.';

-- -----------------------------------------------------------------------------
-- updated_at (genvault_touch_updated_at is in credits.sql)
-- -----------------------------------------------------------------------------
create or replace trigger user_generations_touch_updated_at
  before update on public.user_generations
  for each row execute function public.genvault_touch_updated_at();

-- -----------------------------------------------------------------------------
-- Row Level Security: users read their own rows; nobody writes directly.
-- -----------------------------------------------------------------------------
-- A row exists only because a credit was spent for it (record_generation), and
-- what it says about the image never changes afterwards. So `authenticated`
-- gets SELECT and nothing else: inserts, updates and deletes go through the
-- SECURITY DEFINER functions below, which filter on the caller themselves. The
-- insert, update and delete policies of earlier versions are dropped: without
-- the privilege they could only mislead a reader into thinking a direct write
-- (one POST or PATCH to /rest/v1/user_generations) is part of the contract.
alter table public.user_generations enable row level security;

drop policy if exists "Users can view their own generations" on public.user_generations;
create policy "Users can view their own generations"
  on public.user_generations for select
  to authenticated
  using ((select auth.uid())::text = user_id);
comment on policy "Users can view their own generations" on public.user_generations is
  'A user reads only their own history; other rows are simply invisible.';

drop policy if exists "Users can insert their own generations" on public.user_generations;
drop policy if exists "Users can update their own generations" on public.user_generations;
drop policy if exists "Users can delete their own generations" on public.user_generations;

-- Provenance is written once. Whoever writes (a function, service_role, an
-- operator in the SQL editor), the columns that say what was made, by whom,
-- when and where its bytes are never change; only the organising columns
-- (starred, trashed_at, updated_at) may.
create or replace function public.genvault_freeze_provenance() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if (new.id, new.user_id, new.prompt, new.model, new.params, new.image_url,
      new.thumbnail_url, new.image_bytes, new.image_sha256, new.created_at)
     is distinct from
     (old.id, old.user_id, old.prompt, old.model, old.params, old.image_url,
      old.thumbnail_url, old.image_bytes, old.image_sha256, old.created_at) then
    raise exception 'a generation''s record cannot be changed after it is made'
      using errcode = '42501',
            hint = 'Star, tag, trash or delete it instead; make a new generation for a new image.';
  end if;
  return new;
end
$$;
comment on function public.genvault_freeze_provenance() is
  'Trigger: refuses (42501) any change to the columns that record what was made '
  '(id, user_id, prompt, model, params, image_url, thumbnail_url, image_bytes, '
  'image_sha256, created_at).';

create or replace trigger user_generations_freeze_provenance
  before update on public.user_generations
  for each row execute function public.genvault_freeze_provenance();

-- -----------------------------------------------------------------------------
-- The prompt rule
-- -----------------------------------------------------------------------------

-- White space at either end of a prompt or a tag is what Python's str.strip()
-- removes (every Unicode space, line and paragraph separator, and the ASCII
-- separators 0x1C to 0x1F), so that the library and the database trim alike.
create or replace function public.genvault_trim(value text) returns text
language sql immutable parallel safe
set search_path = ''
as $$
  select btrim(value, U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680'
                      || U&'\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')
$$;
comment on function public.genvault_trim(text) is
  'value without the white space Python''s str.strip() removes at either end.';

-- What a prompt must be, in one place: trimmed, not empty, at most 2,000
-- characters, and free of the characters that make text display differently
-- from what it says (the bidirectional embeddings, overrides and isolates)
-- and of every other control character but tab and newline. The messages and
-- hints are the ones the library shows. A NUL never gets this far: PostgreSQL
-- text cannot hold one, and every way of passing one in fails first.
create or replace function public.genvault_prompt_problem(
  prompt text,
  out cleaned text,
  out message text,
  out hint text
)
language plpgsql immutable parallel safe
set search_path = ''
as $$
begin
  cleaned := public.genvault_trim(prompt);
  if cleaned is null or cleaned = '' then
    message := 'the prompt is empty';
    hint := 'describe the image you want';
  elsif length(cleaned) > 2000 then
    message := format('the prompt is %s characters long',
                      to_char(length(cleaned), 'FM999,999,999,990'));
    hint := 'shorten it to at most 2,000 characters';
  else
    -- The first kind of character the prompt holds, with each one it holds
    -- listed as U+XXXX in order.
    select format(k.message, l.listed), k.hint
      into message, hint
      from (values
              (1, '[\u202a-\u202e\u2066-\u2069]',
               'the prompt contains text-direction control characters (%s)',
               'they can make a prompt display differently from what it says; remove them'),
              (2, '[\u0001-\u0008\u000b-\u001f\u007f-\u009f]',
               'the prompt contains control characters (%s)',
               'remove them')
           ) as k(n, pattern, message, hint)
      cross join lateral (
        select string_agg(format('U+%s', upper(lpad(to_hex(c.code), 4, '0'))), ', '
                          order by c.code) as listed
          from (select distinct ascii(m[1]) as code
                  from regexp_matches(cleaned, '(' || k.pattern || ')', 'g') as m) c
      ) l
     where l.listed is not null
     order by k.n
     limit 1;
  end if;
end
$$;
comment on function public.genvault_prompt_problem(text) is
  'The prompt as stored (cleaned: trimmed) and, when the prompt rule refuses it, '
  'why (message) and what to do (hint); message is NULL for a good prompt.';

create or replace function public.check_prompt(prompt text) returns text
language plpgsql immutable
set search_path = ''
as $$
declare
  verdict record;
begin
  select p.cleaned, p.message, p.hint into verdict
    from public.genvault_prompt_problem(check_prompt.prompt) p;
  if verdict.message is not null then
    raise exception '%', verdict.message using errcode = '22023', hint = verdict.hint;
  end if;
  return verdict.cleaned;
end
$$;
comment on function public.check_prompt(text) is
  'The prompt trimmed, as it would be stored; raises 22023 with the reason and, in '
  'the hint, what to do, when it is empty, longer than 2,000 characters, or holds '
  'a text-direction or other control character. Every function that writes a '
  'prompt calls it.';

-- -----------------------------------------------------------------------------
-- Functions the library calls
-- -----------------------------------------------------------------------------

-- Paging contract for list and search: newest first, ordered by (created_at, id)
-- descending; pass the last row's created_at and id as before_created_at and
-- before_id to get the next page. Stable under concurrent inserts, unlike OFFSET.

create or replace function public.list_generations(
  page_size integer default 50,
  before_created_at timestamptz default null,
  before_id uuid default null
) returns setof public.user_generations
language plpgsql stable
set search_path = ''
-- Planned for each call's own values. A plan PL/pgSQL caches after a few calls
-- is made for no user in particular; it then sorts the user's rows, or cannot
-- use the cursor as an index condition, and a user with 100,000 rows pays for
-- that on every page (page 1,000: 150 ms instead of 1 ms).
set plan_cache_mode = force_custom_plan
as $$
declare
  me text := public.genvault_require_user();
begin
  -- 1001: a page of up to 1000 plus the one look-ahead row that tells a client
  -- whether another page follows.
  if page_size is null or page_size not between 1 and 1001 then
    raise exception 'page size must be between 1 and 1000' using errcode = '22023';
  end if;
  -- The explicit user_id filter repeats the policy so the planner can walk the
  -- composite index; the policy still applies.
  return query
    select g.*
      from public.user_generations g
     where g.user_id = me
       and g.trashed_at is null
       and (before_created_at is null
            or (g.created_at, g.id) < (before_created_at, coalesce(before_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)))
     order by g.created_at desc, g.id desc
     limit page_size;
end
$$;
comment on function public.list_generations(integer, timestamptz, uuid) is
  'One page of the caller''s history (not the trash), newest first (keyset paging).';

create or replace function public.get_generation(generation_id uuid)
returns setof public.user_generations
language sql stable
set search_path = ''
as $$
  select g.*
    from public.user_generations g
   where g.id = get_generation.generation_id
     and g.user_id = public.genvault_require_user()
$$;
comment on function public.get_generation(uuid) is
  'The caller''s generation with this id, or no row (another user''s id looks missing).';

create or replace function public.record_generation(
  reservation_id uuid,
  prompt text,
  image_url text,
  model text,
  params jsonb default '{}'::jsonb,
  thumbnail_url text default null,
  image_bytes bigint default null,
  image_sha256 text default null
) returns setof public.user_generations
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  me text := public.genvault_require_user();
  clean_prompt text := public.check_prompt(record_generation.prompt);
  reservation public.credit_ledger;
  row_out public.user_generations;
begin
  select r.* into reservation
    from public.credit_ledger r
   where r.id = record_generation.reservation_id
     and r.reason = 'reserve'
     and r.user_id = me
     for update;
  if not found then
    raise exception 'reservation not found' using errcode = 'P0002';
  end if;

  -- Settle first: the unique `settles` column refuses a reservation that was
  -- already spent or refunded (for example by the expiry sweep).
  begin
    insert into public.credit_ledger (user_id, delta, reason, generation_id, settles)
    values (me, 0, 'spend', reservation.generation_id, reservation.id);
  exception when unique_violation then
    raise exception 'reservation % was already settled', reservation.id
      using errcode = '55000',
            hint = 'It expired or was refunded; start a new generation.';
  end;

  insert into public.user_generations
    (id, user_id, prompt, image_url, model, params, thumbnail_url, image_bytes, image_sha256)
  values
    (reservation.generation_id, me, clean_prompt, record_generation.image_url,
     record_generation.model, coalesce(record_generation.params, '{}'::jsonb),
     record_generation.thumbnail_url, record_generation.image_bytes, record_generation.image_sha256)
  returning * into row_out;

  return next row_out;
end
$$;
comment on function public.record_generation(uuid, text, text, text, jsonb, text, bigint, text) is
  'Saves a finished generation and turns its reservation into a spend, in one '
  'transaction. The row id is the generation id reserve_credit chose, the owner '
  'is always the caller, and the prompt must pass check_prompt (stored trimmed).';

-- The stored files of deleted rows that no remaining row of their owner points
-- at: what a client may remove from storage. A content-addressed store can
-- share one file between rows (identical thumbnails, say), so this is a count
-- of references, not simply the deleted row's paths.
create or replace function public.genvault_unreferenced_paths(
  owner text,
  paths text[],
  excluding uuid[]
) returns text[]
language sql stable
set search_path = ''
as $$
  -- One lookup per column, each served by its hash index: "image_url = path or
  -- thumbnail_url = path" left the planner free to read the owner's whole
  -- history instead (it did, on a small table, even with the hash indexes).
  select coalesce(array_agg(distinct p.path), '{}')
    from unnest(paths) as p(path)
   where p.path is not null
     and p.path !~ '^https://'
     and not exists (select from public.user_generations o
                      where o.image_url = p.path
                        and o.user_id = owner
                        and not (o.id = any (excluding)))
     and not exists (select from public.user_generations o
                      where o.thumbnail_url = p.path
                        and o.user_id = owner
                        and not (o.id = any (excluding)))
$$;
comment on function public.genvault_unreferenced_paths(text, text[], uuid[]) is
  'Of these stored paths of owner, those no row outside `excluding` refers to.';

-- SECURITY DEFINER because users hold no DELETE on the table; the owner filter
-- below is what keeps the call to the caller's own rows.
create or replace function public.delete_generations(generation_ids uuid[])
returns table (id uuid, removable_paths text[])
language plpgsql volatile security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  me text := public.genvault_require_user();
begin
  if generation_ids is null or cardinality(generation_ids) > 1000 then
    raise exception 'give between 0 and 1000 ids' using errcode = '22023';
  end if;
  return query
  with gone as (
    delete from public.user_generations g
     where g.id = any (generation_ids)
       and g.user_id = me
    returning g.id, g.image_url, g.thumbnail_url
  )
  select d.id,
         public.genvault_unreferenced_paths(me, array[d.image_url, d.thumbnail_url], generation_ids)
    from gone d;
end
$$;
comment on function public.delete_generations(uuid[]) is
  'Deletes the caller''s generations with these ids and returns, for each one '
  'deleted, the stored files that no other row of the caller still uses (remove '
  'those from storage). Ids of other users, or unknown ids, are ignored alike.';

create or replace function public.referenced_paths(paths text[])
returns table (path text)
language sql stable
set search_path = ''
as $$
  -- One lookup per column, as in genvault_unreferenced_paths.
  select p.path
    from unnest(paths) as p(path)
   where exists (select from public.user_generations g
                  where g.image_url = p.path
                    and g.user_id = public.genvault_require_user())
      or exists (select from public.user_generations g
                  where g.thumbnail_url = p.path
                    and g.user_id = public.genvault_require_user())
$$;
comment on function public.referenced_paths(text[]) is
  'Which of these stored paths a row of the caller still points at: lets a '
  'storage sweep remove files left behind by a crashed generation.';

create or replace function public.delete_my_account()
returns table (generations bigint, ledger_entries bigint)
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  me text := public.genvault_require_user();
begin
  select count(*) into generations from public.user_generations g where g.user_id = me;
  select count(*) into ledger_entries from public.credit_ledger l where l.user_id = me;
  -- Removing the auth user cascades (by trigger) to credits, ledger and generations.
  delete from auth.users u where u.id = me::uuid;
  delete from public.user_credits c where c.user_id = me;
  return next;
end
$$;
comment on function public.delete_my_account() is
  'Erases the caller: auth user, credits, ledger and generations. Stored files are '
  'the client''s to remove first (Storage is not reachable from SQL). Returns what '
  'was removed.';

-- -----------------------------------------------------------------------------
-- Grants: users read through RLS and write only through the functions.
-- -----------------------------------------------------------------------------
revoke all on public.user_generations from public, anon, authenticated;
-- The history page, search and export read rows directly (PostgREST GET).
grant select on public.user_generations to authenticated;
grant all on public.user_generations to service_role;

revoke execute on function
  public.genvault_is_owned_path(text, text),
  public.genvault_trim(text),
  public.genvault_prompt_problem(text),
  public.check_prompt(text),
  public.genvault_unreferenced_paths(text, text[], uuid[]),
  public.genvault_freeze_provenance(),
  public.list_generations(integer, timestamptz, uuid),
  public.get_generation(uuid),
  public.record_generation(uuid, text, text, text, jsonb, text, bigint, text),
  public.delete_generations(uuid[]),
  public.referenced_paths(text[]),
  public.delete_my_account()
  from public, anon, authenticated, service_role;

-- The path rule runs inside the table's CHECK constraints, as the writing
-- role: the functions' owner, or service_role writing directly.
grant execute on function public.genvault_is_owned_path(text, text) to service_role;

-- The prompt rule: callable on its own, so that a client can check a prompt
-- before it reserves a credit, with the two helpers it runs as the caller.
grant execute on function
  public.genvault_trim(text),
  public.genvault_prompt_problem(text),
  public.check_prompt(text)
  to authenticated;

grant execute on function
  public.list_generations(integer, timestamptz, uuid),
  public.get_generation(uuid),
  public.record_generation(uuid, text, text, text, jsonb, text, bigint, text),
  public.delete_generations(uuid[]),
  public.referenced_paths(text[]),
  public.delete_my_account()
  to authenticated;
