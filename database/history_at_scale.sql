-- =============================================================================
-- genvault: keeping a large history fast.
--
-- Apply after monitoring.sql (or run `gen db migrate`). Idempotent.
--
-- A user with 100,000 generations should search and see their statistics as
-- quickly as a user with 20. Two things make that so:
--
--   1. search reads one index that holds each prompt's trigrams together with
--      its owner, so only the caller's matches are read (the search itself,
--      find_generations, is in organising.sql);
--   2. the figures my_stats() reports are kept up to date by triggers in
--      small per-user summary tables, so it reads hundreds of rows, not every
--      generation of the caller.
--
-- (Delete and retention clean-up ask "is this stored file still used?"
-- through the hash indexes in generations.sql.)
-- =============================================================================

-- -----------------------------------------------------------------------------
-- 1. Search: trigrams indexed with their owner
-- -----------------------------------------------------------------------------

-- pg_trgm splits a prompt into its trigrams (show_trgm).
create extension if not exists pg_trgm with schema extensions;

-- The trigram index alone knows which prompts contain a term's trigrams, but
-- not whose they are: for a user with 100,000 rows, a term found in a few
-- hundred of their prompts and in thousands of other users' made PostgreSQL
-- read long lists of everyone's rows and then combine them with the user's
-- 100,000 entries of the history index (20-36 ms). Here each indexed key is a
-- trigram together with its owner: the 24-bit hash of the trigram and, above
-- it, one of 64 buckets the owner's id falls in. The lists a search reads
-- are then those of the caller's bucket alone, about 1/64 of everyone's.
-- Hash collisions only let extra rows through to the ILIKE that always
-- follows; they never hide a match.
create or replace function public.genvault_search_keys(owner text, prompt text)
returns integer[]
language sql immutable parallel safe
set search_path = ''
as $$
  select array(select ((hashtext(owner) & 63) << 24) | (hashtext(t) & 16777215)
                 from unnest(extensions.show_trgm(prompt)) as t)
$$;
comment on function public.genvault_search_keys(text, text) is
  'The keys user_generations_search_idx holds for a prompt of owner: each trigram '
  'of the prompt, hashed together with owner''s bucket.';

-- The keys every prompt containing term must have. pg_trgm pads each word with
-- spaces, and a term may be the middle of a longer word ("cat" in "delicate"),
-- so only the term's inner trigrams (no padding) are certain to be in such a
-- prompt; pg_trgm shows trigrams with non-ASCII letters as hashes, which
-- cannot be told apart from padded ones, so those are left out too. A term
-- with no inner trigram (under 3 letters) gives no key: search then walks the
-- user's history instead.
create or replace function public.genvault_search_term_keys(owner text, term text)
returns integer[]
language sql immutable parallel safe
set search_path = ''
as $$
  select array(select ((hashtext(owner) & 63) << 24) | (hashtext(t) & 16777215)
                 from unnest(extensions.show_trgm(term)) as t
                where length(t) = 3 and position(' ' in t) = 0)
$$;
comment on function public.genvault_search_term_keys(text, text) is
  'The keys of user_generations_search_idx that every prompt of owner containing '
  'term has (none for a term under 3 letters).';

create index if not exists user_generations_search_idx
  on public.user_generations using gin (public.genvault_search_keys(user_id, prompt));
comment on index public.user_generations_search_idx is
  'Search within one user''s prompts: "genvault_search_keys(user_id, prompt) @> '
  'genvault_search_term_keys(me, term)" finds the candidates, ILIKE confirms them.';

-- -----------------------------------------------------------------------------
-- 2. Statistics: per-user summaries kept by triggers
-- -----------------------------------------------------------------------------

-- The totals, the images per day and the prompt counts of each user. Only the
-- triggers below write them (as the table owner); a user reads their own rows.
create table if not exists public.user_generation_totals (
  user_id text primary key references public.user_credits (user_id) on delete cascade,
  images bigint not null default 0 check (images >= 0),
  bytes bigint not null default 0 check (bytes >= 0),
  credits_spent bigint not null default 0 check (credits_spent >= 0)
);
comment on table public.user_generation_totals is
  'Per user: how many generations, their stored bytes, and credits spent. Kept by '
  'triggers on user_generations and credit_ledger; read by my_stats().';

create table if not exists public.user_generation_days (
  user_id text not null references public.user_credits (user_id) on delete cascade,
  day date not null,
  images bigint not null check (images >= 0),
  primary key (user_id, day)
);
comment on table public.user_generation_days is
  'Per user and UTC day: how many of their generations were made that day. A day '
  'with none has no row. Kept by triggers; read by my_stats().';

create table if not exists public.user_prompt_counts (
  user_id text not null references public.user_credits (user_id) on delete cascade,
  prompt_key uuid not null,
  prompt text not null,
  uses bigint not null check (uses >= 0),
  primary key (user_id, prompt_key)
);
comment on table public.user_prompt_counts is
  'Per user and prompt (compared case- and space-insensitively): how many of their '
  'generations used it. prompt_key is the MD5 of the folded prompt, which a b-tree '
  'can hold whatever the prompt''s length. Kept by triggers; read by my_stats().';
comment on column public.user_prompt_counts.prompt is 'The prompt, trimmed and lower-cased.';

-- "Most used prompts first", ties in alphabetical order: the index gives the
-- order of the first 200 characters, and only prompts that share those need
-- sorting further.
create index if not exists user_prompt_counts_top_idx
  on public.user_prompt_counts (user_id, uses desc, left(prompt, 200));
comment on index public.user_prompt_counts_top_idx is
  'my_stats(): a user''s most used prompts, read in order.';

-- How a prompt is folded for counting, in one place.
create or replace function public.genvault_prompt_key(prompt text) returns uuid
language sql immutable parallel safe
set search_path = ''
as $$
  select md5(lower(btrim(prompt)))::uuid
$$;
comment on function public.genvault_prompt_key(text) is
  'The key under which a prompt is counted: MD5 of the trimmed, lower-cased text.';

-- Whether a generation counts in its owner's summaries: the rows in the
-- history, not in the trash. One place, so that the triggers and the rebuild
-- agree on it. Moving a row to the trash is an update, which the summary
-- trigger sees as the row leaving what is counted; restoring it brings it back.
create or replace function public.genvault_is_counted(g public.user_generations)
returns boolean
language sql immutable
set search_path = ''
as $$
  select g.trashed_at is null
$$;
comment on function public.genvault_is_counted(public.user_generations) is
  'Whether a generation counts in its owner''s summaries: when it is in the history, '
  'not in the trash.';

-- Adds (sign 1) or takes away (sign -1) one generation from its owner's
-- totals, day and prompt count. Each is an update of the existing row, or the
-- insert of a new one (a concurrent insert of the same key adds to it); a day
-- or prompt whose count reaches zero goes. A user who is being erased (their
-- credits row, and with it their summaries, already gone by the time a
-- cascade's trigger runs) changes nothing.
create or replace function public.genvault_count_generation(
  owner text, prompt text, created_at timestamptz, image_bytes bigint, sign integer
) returns void
language plpgsql volatile
set search_path = ''
as $$
declare
  made_on date := (created_at at time zone 'UTC')::date;
  key uuid := public.genvault_prompt_key(prompt);
  delta_bytes bigint := sign * coalesce(image_bytes, 0);
begin
  if not exists (select from public.user_credits c where c.user_id = owner) then
    return;
  end if;

  update public.user_generation_totals t
     set images = t.images + sign, bytes = t.bytes + delta_bytes
   where t.user_id = owner;
  if not found then
    insert into public.user_generation_totals as t (user_id, images, bytes)
    values (owner, sign, delta_bytes)
    on conflict (user_id) do update
       set images = t.images + excluded.images, bytes = t.bytes + excluded.bytes;
  end if;

  update public.user_generation_days d
     set images = d.images + sign
   where d.user_id = owner and d.day = made_on;
  if not found then
    insert into public.user_generation_days as d (user_id, day, images)
    values (owner, made_on, sign)
    on conflict (user_id, day) do update set images = d.images + excluded.images;
  elsif sign < 0 then
    delete from public.user_generation_days d
     where d.user_id = owner and d.day = made_on and d.images = 0;
  end if;

  update public.user_prompt_counts p
     set uses = p.uses + sign
   where p.user_id = owner and p.prompt_key = key;
  if not found then
    insert into public.user_prompt_counts as p (user_id, prompt_key, prompt, uses)
    values (owner, key, lower(btrim(prompt)), sign)
    on conflict (user_id, prompt_key) do update set uses = p.uses + excluded.uses;
  elsif sign < 0 then
    delete from public.user_prompt_counts p
     where p.user_id = owner and p.prompt_key = key and p.uses = 0;
  end if;
end
$$;
comment on function public.genvault_count_generation(text, text, timestamptz, bigint, integer) is
  'Adds (+1) or takes away (-1) one generation from its owner''s totals, day and '
  'prompt count.';

-- Trigger, per row: a create is one row, and per-row triggers run their
-- statements from cached plans (about 0.1 ms a row). An update that leaves
-- what is counted alone (a star, say) changes nothing.
create or replace function public.genvault_summarise_generation() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  was boolean := tg_op <> 'INSERT' and public.genvault_is_counted(old);
  is_now boolean := tg_op <> 'DELETE' and public.genvault_is_counted(new);
begin
  if tg_op = 'UPDATE' and was = is_now
     and (old.user_id, old.prompt, old.created_at, old.image_bytes)
         is not distinct from (new.user_id, new.prompt, new.created_at, new.image_bytes) then
    return null;
  end if;
  if was then
    perform public.genvault_count_generation(
      old.user_id, old.prompt, old.created_at, old.image_bytes, -1);
  end if;
  if is_now then
    perform public.genvault_count_generation(
      new.user_id, new.prompt, new.created_at, new.image_bytes, 1);
  end if;
  return null;
end
$$;
comment on function public.genvault_summarise_generation() is
  'Trigger: keeps user_generation_totals, user_generation_days and '
  'user_prompt_counts equal to what user_generations holds. SECURITY DEFINER: '
  'users cannot write the summaries themselves.';

create or replace trigger user_generations_summarise
  after insert or update or delete on public.user_generations
  for each row execute function public.genvault_summarise_generation();

create or replace function public.genvault_count_spend() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  update public.user_generation_totals t
     set credits_spent = t.credits_spent + 1
   where t.user_id = new.user_id;
  if not found then
    insert into public.user_generation_totals as t (user_id, credits_spent)
    values (new.user_id, 1)
    on conflict (user_id) do update set credits_spent = t.credits_spent + 1;
  end if;
  return null;
end
$$;
comment on function public.genvault_count_spend() is
  'Trigger: counts a user''s spent credit into user_generation_totals (the ledger '
  'is append-only, so only inserts matter).';

create or replace trigger credit_ledger_count_spend
  after insert on public.credit_ledger
  for each row when (new.reason = 'spend')
  execute function public.genvault_count_spend();

-- Recomputes every summary from the rows themselves: the first time this file
-- is applied to a database that already has a history, and whenever an
-- operator wants to be sure (for example after loading rows with triggers
-- disabled). Holds off writers to both tables while it runs.
create or replace function public.genvault_rebuild_summaries() returns bigint
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  counted bigint;
begin
  perform public.genvault_require_operator();
  lock table public.user_generations, public.credit_ledger in share mode;
  delete from public.user_prompt_counts;
  delete from public.user_generation_days;
  delete from public.user_generation_totals;
  insert into public.user_generation_totals (user_id, images, bytes)
  select g.user_id, count(*), coalesce(sum(g.image_bytes), 0)
    from public.user_generations g
   where public.genvault_is_counted(g)
   group by g.user_id;
  insert into public.user_generation_days (user_id, day, images)
  select g.user_id, (g.created_at at time zone 'UTC')::date, count(*)
    from public.user_generations g
   where public.genvault_is_counted(g)
   group by 1, 2;
  insert into public.user_prompt_counts (user_id, prompt_key, prompt, uses)
  select g.user_id, public.genvault_prompt_key(g.prompt), min(lower(btrim(g.prompt))), count(*)
    from public.user_generations g
   where public.genvault_is_counted(g)
   group by 1, 2;
  insert into public.user_generation_totals as t (user_id, credits_spent)
  select l.user_id, count(*)
    from public.credit_ledger l
   where l.reason = 'spend'
   group by l.user_id
  on conflict (user_id) do update set credits_spent = excluded.credits_spent;
  select coalesce(sum(t.images), 0) into counted from public.user_generation_totals t;
  return counted;
end
$$;
comment on function public.genvault_rebuild_summaries() is
  'Operators: recomputes the per-user summaries from user_generations and the '
  'ledger; returns the number of generations counted.';

-- Fill the summaries once, where the history predates them.
do $$
begin
  if not exists (select from public.user_generation_totals)
     and (exists (select from public.user_generations)
          or exists (select from public.credit_ledger where reason = 'spend')) then
    perform public.genvault_rebuild_summaries();
  end if;
end
$$;

-- A user reads their own summary rows; nobody else (service_role aside) reads
-- or writes them, and only the triggers above change them.
alter table public.user_generation_totals enable row level security;
alter table public.user_generation_days enable row level security;
alter table public.user_prompt_counts enable row level security;

drop policy if exists "Users can read their own totals" on public.user_generation_totals;
create policy "Users can read their own totals"
  on public.user_generation_totals for select
  to authenticated
  using ((select auth.uid())::text = user_id);
comment on policy "Users can read their own totals" on public.user_generation_totals is
  'A user sees only their own totals; they are written by triggers alone.';

drop policy if exists "Users can read their own days" on public.user_generation_days;
create policy "Users can read their own days"
  on public.user_generation_days for select
  to authenticated
  using ((select auth.uid())::text = user_id);
comment on policy "Users can read their own days" on public.user_generation_days is
  'A user sees only their own images-per-day counts; written by triggers alone.';

drop policy if exists "Users can read their own prompt counts" on public.user_prompt_counts;
create policy "Users can read their own prompt counts"
  on public.user_prompt_counts for select
  to authenticated
  using ((select auth.uid())::text = user_id);
comment on policy "Users can read their own prompt counts" on public.user_prompt_counts is
  'A user sees only the counts of their own prompts; written by triggers alone.';

-- The first and last dates of a user's history (not the trash): the two ends
-- of their part of the (user_id, created_at, id) index. Runs with the
-- caller's rights.
create or replace function public.genvault_history_bounds(owner text)
returns table (first_at timestamptz, last_at timestamptz)
language sql stable
set search_path = ''
as $$
  select (select g.created_at from public.user_generations g
           where g.user_id = owner and g.trashed_at is null
           order by g.created_at, g.id limit 1),
         (select g.created_at from public.user_generations g
           where g.user_id = owner and g.trashed_at is null
           order by g.created_at desc, g.id desc limit 1)
$$;
comment on function public.genvault_history_bounds(text) is
  'When owner''s first and last generations in the history (not the trash) were made.';

create or replace function public.my_stats(days integer default 30, top integer default 5)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
  me text := public.genvault_require_user();
  since date;
  result jsonb;
begin
  if days is null or days not between 1 and 3660 then
    raise exception 'days must be between 1 and 3660' using errcode = '22023';
  end if;
  if top is null or top not between 1 and 100 then
    raise exception 'top must be between 1 and 100' using errcode = '22023';
  end if;
  since := (now() at time zone 'UTC')::date - (days - 1);
  -- Everything comes from the summaries (a row per user, per day, per prompt),
  -- except the first and last dates (genvault_history_bounds).
  select jsonb_build_object(
    'total', coalesce(t.images, 0),
    'bytes', coalesce(t.bytes, 0),
    'first_at', (select b.first_at from public.genvault_history_bounds(me) b),
    'last_at', (select b.last_at from public.genvault_history_bounds(me) b),
    'credits', (select c.credits from public.user_credits c where c.user_id = me),
    'credits_spent', coalesce(t.credits_spent, 0),
    'per_day', coalesce((
      select jsonb_agg(jsonb_build_object('day', d.day, 'images', d.images) order by d.day)
        from public.user_generation_days d
       where d.user_id = me and d.day >= since and d.images > 0), '[]'::jsonb),
    'per_week', coalesce((
      select jsonb_agg(jsonb_build_object('week', w.week, 'images', w.images) order by w.week)
        from (select pg_catalog.date_trunc('week', d.day)::date as week, sum(d.images) as images
                from public.user_generation_days d
               where d.user_id = me and d.day >= since and d.images > 0
               group by 1) w), '[]'::jsonb),
    'top_prompts', coalesce((
      select jsonb_agg(jsonb_build_object('prompt', p.prompt, 'uses', p.uses)
                       order by p.uses desc, left(p.prompt, 200), p.prompt)
        from (select p.prompt, p.uses
                from public.user_prompt_counts p
               where p.user_id = me and p.uses > 0
               order by p.uses desc, left(p.prompt, 200), p.prompt
               limit top) p), '[]'::jsonb)
  ) into result
  from (select) as one
  left join public.user_generation_totals t on t.user_id = me;
  return result;
end
$$;
comment on function public.my_stats(integer, integer) is
  'The caller''s own figures: totals, bytes, credits, images per day and per week '
  'over the last N days, and their most used prompts. Reads the per-user '
  'summaries with the caller''s rights, so RLS keeps it to their rows.';

-- -----------------------------------------------------------------------------
-- Grants: users read their own summaries; the machinery is not callable.
-- -----------------------------------------------------------------------------
revoke all on public.user_generation_totals, public.user_generation_days,
  public.user_prompt_counts from public, anon, authenticated;
grant select on public.user_generation_totals, public.user_generation_days,
  public.user_prompt_counts to authenticated;
grant all on public.user_generation_totals, public.user_generation_days,
  public.user_prompt_counts to service_role;

revoke execute on function
  public.genvault_search_keys(text, text),
  public.genvault_search_term_keys(text, text),
  public.genvault_prompt_key(text),
  public.genvault_is_counted(public.user_generations),
  public.genvault_count_generation(text, text, timestamptz, bigint, integer),
  public.genvault_summarise_generation(),
  public.genvault_count_spend(),
  public.genvault_rebuild_summaries(),
  public.genvault_history_bounds(text),
  public.my_stats(integer, integer)
  from public, anon, authenticated, service_role;

grant execute on function public.my_stats(integer, integer) to authenticated;
-- Runs inside my_stats, as the caller.
grant execute on function public.genvault_history_bounds(text) to authenticated;
grant execute on function public.genvault_rebuild_summaries() to service_role;
-- The search index's expression runs as whoever writes a row: the writer
-- functions' owner, or service_role writing directly. Users search through
-- find_generations(), which runs as its owner.
grant execute on function public.genvault_search_keys(text, text) to service_role;
