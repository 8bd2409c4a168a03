-- =============================================================================
-- genvault: monitoring and retention.
--
-- Operator figures over every user (images per user, popular prompts, storage,
-- daily and weekly trends, retention clean-up) are functions that only
-- service_role and direct operator sessions may run. A signed-in user's own
-- figures come from my_stats(), in history_at_scale.sql beside the summaries
-- it reads.
--
-- Apply after generations.sql. Idempotent.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- Operator functions
-- -----------------------------------------------------------------------------

-- Every admin_* function starts with this check, so that a grant made by
-- mistake still cannot expose other users' data.
create or replace function public.genvault_require_operator() returns void
language plpgsql stable
set search_path = ''
as $$
begin
  if not public.genvault_is_operator() then
    raise exception 'operators only' using errcode = '42501',
      hint = 'Use the service role key or a direct database connection.';
  end if;
end
$$;
comment on function public.genvault_require_operator() is
  'Raises 42501 unless the session acts as service_role or a direct operator.';

create or replace function public.admin_images_per_user(max_rows integer default 50)
returns table (user_id text, images bigint, first_at timestamptz, last_at timestamptz)
language plpgsql stable security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
  perform public.genvault_require_operator();
  return query
    select g.user_id, count(*), min(g.created_at), max(g.created_at)
      from public.user_generations g
     group by g.user_id
     order by count(*) desc, g.user_id
     limit greatest(1, least(max_rows, 10000));
end
$$;
comment on function public.admin_images_per_user(integer) is
  'Operators: the users with the most images, with their first and last dates.';

create or replace function public.admin_popular_prompts(max_rows integer default 20)
returns table (prompt text, uses bigint, users bigint, last_at timestamptz)
language plpgsql stable security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
  perform public.genvault_require_operator();
  return query
    select lower(btrim(g.prompt)), count(*), count(distinct g.user_id), max(g.created_at)
      from public.user_generations g
     group by lower(btrim(g.prompt))
     order by count(*) desc, max(g.created_at) desc
     limit greatest(1, least(max_rows, 10000));
end
$$;
comment on function public.admin_popular_prompts(integer) is
  'Operators: the most repeated prompts (compared case- and space-insensitively).';

create or replace function public.admin_storage_estimate()
returns table (images bigint, users bigint, known_bytes bigint, estimated_bytes bigint,
               table_bytes bigint)
language plpgsql stable security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
  perform public.genvault_require_operator();
  return query
    select count(*),
           count(distinct g.user_id),
           coalesce(sum(g.image_bytes), 0)::bigint,
           -- Rows written without a size are counted at the mean of those with one.
           (coalesce(sum(g.image_bytes), 0)
             + count(*) filter (where g.image_bytes is null)
               * coalesce(avg(g.image_bytes), 0))::bigint,
           pg_catalog.pg_total_relation_size('public.user_generations')
      from public.user_generations g;
end
$$;
comment on function public.admin_storage_estimate() is
  'Operators: how many images, the bytes they take in storage (measured where known, '
  'estimated otherwise), and the size of the table with its indexes.';

create or replace function public.admin_trends(bucket text default 'day', periods integer default 30)
returns table (period_start timestamptz, images bigint, users bigint)
language plpgsql stable security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
  perform public.genvault_require_operator();
  if bucket not in ('day', 'week') then
    raise exception 'bucket must be day or week' using errcode = '22023';
  end if;
  if periods is null or periods not between 1 and 3660 then
    raise exception 'periods must be between 1 and 3660' using errcode = '22023';
  end if;
  return query
    with span as (
      select pg_catalog.date_trunc(bucket, now()) - ((periods - 1) * ('1 ' || bucket)::interval) as since
    )
    select s.period_start, coalesce(c.images, 0), coalesce(c.users, 0)
      from span,
           pg_catalog.generate_series(span.since, pg_catalog.date_trunc(bucket, now()),
                                      ('1 ' || bucket)::interval) as s(period_start)
      left join (
        select pg_catalog.date_trunc(bucket, g.created_at) as period_start,
               count(*) as images, count(distinct g.user_id) as users
          from public.user_generations g, span
         where g.created_at >= span.since
         group by 1
      ) c using (period_start)
     order by s.period_start;
end
$$;
comment on function public.admin_trends(text, integer) is
  'Operators: images and active users per day or per week for the last N periods, '
  'with empty periods shown as zero.';

-- The purge works in batches of at most 1000 rows, the most that Supabase's API
-- (PostgREST's db-max-rows, 1000 in supabase/config.toml) returns from one call:
-- a longer answer would be cut short without a word, and the files of every row
-- past the cut would stay in Storage for ever. Callers repeat the call until it
-- returns no row. The signature of the unbatched version is dropped here.
drop function if exists public.admin_purge_older_than(interval, boolean);

create or replace function public.admin_purge_older_than(
  age interval,
  dry_run boolean default true,
  max_rows integer default 1000
) returns table (id uuid, user_id text, created_at timestamptz, removable_paths text[])
language plpgsql volatile security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  doomed uuid[];
  batch uuid[];
begin
  perform public.genvault_require_operator();
  if age is null or age < interval '1 day' then
    raise exception 'retention age must be at least 1 day' using errcode = '22023';
  end if;
  if max_rows is null or max_rows not between 1 and 1000 then
    raise exception 'max_rows must be between 1 and 1000' using errcode = '22023';
  end if;
  if dry_run then
    -- Every row that would go counts when deciding which files nothing keeps.
    select coalesce(array_agg(g.id), '{}') into doomed
      from public.user_generations g
     where g.created_at < now() - age;
    return query
      select g.id, g.user_id, g.created_at,
             public.genvault_unreferenced_paths(
               g.user_id, array[g.image_url, g.thumbnail_url], doomed)
        from public.user_generations g
       where g.id = any (doomed)
       order by g.created_at, g.id
       limit max_rows;
  else
    -- The oldest batch; a file shared with a later batch goes with that batch.
    select coalesce(array_agg(g.id), '{}') into batch
      from (select g.id from public.user_generations g
             where g.created_at < now() - age
             order by g.created_at, g.id
             limit max_rows) g;
    return query
      with gone as (
        delete from public.user_generations g
         where g.id = any (batch)
        returning g.id, g.user_id, g.created_at, g.image_url, g.thumbnail_url
      )
      select d.id, d.user_id, d.created_at,
             public.genvault_unreferenced_paths(
               d.user_id, array[d.image_url, d.thumbnail_url], batch)
        from gone d;
  end if;
end
$$;
comment on function public.admin_purge_older_than(interval, boolean, integer) is
  'Operators: retention clean-up in batches. Lists (dry_run, the default) or deletes '
  'the oldest max_rows (at most 1000) generations older than age, returning for each '
  'the stored paths that no kept row uses, to remove from storage. Call again until '
  'it returns no row; admin_purge_older_than_summary counts the whole purge.';

create or replace function public.admin_purge_older_than_summary(age interval)
returns table (generations bigint, files bigint)
language plpgsql stable security definer
set search_path = ''
as $$
declare
  doomed uuid[];
begin
  perform public.genvault_require_operator();
  if age is null or age < interval '1 day' then
    raise exception 'retention age must be at least 1 day' using errcode = '22023';
  end if;
  select coalesce(array_agg(g.id), '{}') into doomed
    from public.user_generations g
   where g.created_at < now() - age;
  return query
    select cardinality(doomed)::bigint,
           (select count(distinct p.path)
              from public.user_generations g,
                   unnest(public.genvault_unreferenced_paths(
                     g.user_id, array[g.image_url, g.thumbnail_url], doomed)) as p(path)
             where g.id = any (doomed));
end
$$;
comment on function public.admin_purge_older_than_summary(interval) is
  'Operators: how many generations older than age a retention purge would delete, '
  'and how many stored files it would remove, in one row.';

create or replace function public.admin_find_user(who text) returns text
language plpgsql stable security definer
set search_path = ''
as $$
begin
  perform public.genvault_require_operator();
  return (select u.id::text
            from auth.users u
           where u.id::text = lower(btrim(who)) or lower(u.email) = lower(btrim(who))
           limit 1);
end
$$;
comment on function public.admin_find_user(text) is
  'Operators: the user id for an id or an email address (NULL when there is none).';

-- -----------------------------------------------------------------------------
-- Grants
-- -----------------------------------------------------------------------------
revoke execute on function
  public.genvault_require_operator(),
  public.admin_find_user(text),
  public.admin_images_per_user(integer),
  public.admin_popular_prompts(integer),
  public.admin_storage_estimate(),
  public.admin_trends(text, integer),
  public.admin_purge_older_than(interval, boolean, integer),
  public.admin_purge_older_than_summary(interval)
  from public, anon, authenticated, service_role;

grant execute on function
  public.admin_find_user(text),
  public.admin_images_per_user(integer),
  public.admin_popular_prompts(integer),
  public.admin_storage_estimate(),
  public.admin_trends(text, integer),
  public.admin_purge_older_than(interval, boolean, integer),
  public.admin_purge_older_than_summary(interval)
  to service_role;
