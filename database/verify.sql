-- =============================================================================
-- genvault: verify the database.
--
-- Read-only checks that the schema is in place and that it keeps each user's
-- data private: tables, Row Level Security, policies, indexes, the pg_trgm
-- extension, function privileges and search paths, and the Storage bucket and
-- its policies wherever a Storage schema exists (Supabase's, or the local one
-- of supabase_compat.sql). Works on a hosted Supabase project and on plain
-- PostgreSQL with supabase_compat.sql.
--
-- In the Supabase SQL editor, paste the whole file and run it: the last block
-- raises an error naming every failed check, so a problem cannot go unnoticed.
-- To see the full table of checks, run only the part above the assert marker
-- line near the end. `gen db verify` runs that part and reports each row.
--
-- Each row of genvault_checks is one check: ("check", ok, detail). The helper
-- function and the view are temporary: they vanish with the session.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- Helper: the Storage bucket's settings, read with dynamic SQL so that this
-- file also runs where there is no storage schema (a database without
-- supabase_compat.sql's or Supabase's).
-- -----------------------------------------------------------------------------
create or replace function pg_temp.genvault_bucket_problem() returns text
language plpgsql stable
as $$
declare
  is_public boolean;
  size_limit bigint;
  mime_types text[];
  found_rows integer;
begin
  if pg_catalog.to_regclass('storage.buckets') is null then
    return null;
  end if;
  execute 'select public, file_size_limit, allowed_mime_types
             from storage.buckets where id = ''generations'''
     into is_public, size_limit, mime_types;
  get diagnostics found_rows = row_count;
  if found_rows = 0 then
    return 'bucket "generations" is missing; apply storage.sql';
  elsif is_public is distinct from false then
    return 'bucket "generations" is public: anyone with a file''s URL can read it';
  elsif size_limit is distinct from 52428800 then
    return pg_catalog.format('file_size_limit is %s, expected 52428800 (50 MB)', size_limit);
  elsif mime_types is null
        or not (mime_types @> array['image/webp', 'image/png', 'image/jpeg']
                and mime_types <@ array['image/webp', 'image/png', 'image/jpeg']) then
    return pg_catalog.format('allowed_mime_types is %s, expected image/webp, image/png, image/jpeg',
                             mime_types);
  end if;
  return '';
end
$$;

-- -----------------------------------------------------------------------------
-- The checks
-- -----------------------------------------------------------------------------
create or replace temp view genvault_checks ("check", ok, detail) as
with
-- The policies genvault creates: name, table, command, and which clauses
-- (USING, WITH CHECK) each must have.
expected_policy (tbl, name, cmd, has_using, has_check) as (
  values
    ('user_generations', 'Users can view their own generations', 'SELECT', true, false),
    ('user_credits', 'Users can read their own credits', 'SELECT', true, false),
    ('credit_ledger', 'Users can read their own ledger', 'SELECT', true, false),
    -- history_at_scale.sql: the summaries are read-only to their owner.
    ('user_generation_totals', 'Users can read their own totals', 'SELECT', true, false),
    ('user_generation_days', 'Users can read their own days', 'SELECT', true, false),
    ('user_prompt_counts', 'Users can read their own prompt counts', 'SELECT', true, false),
    -- organising.sql
    ('collections', 'Users can view their own collections', 'SELECT', true, false),
    ('collection_items', 'Users can view their own collection items', 'SELECT', true, false),
    ('generation_tags', 'Users can view their own tags', 'SELECT', true, false),
    ('shares', 'Owners and recipients can view a share', 'SELECT', true, false),
    ('public_links', 'Owners can view their public links', 'SELECT', true, false),
    ('prompt_templates', 'Users can view their own templates', 'SELECT', true, false)
),
-- Policy text as pg_policies shows it, lower-cased. The initPlan form appears
-- as "( select auth.uid() as uid)"; any auth.* call left after removing those
-- runs once per row (Supabase linter 0003, auth_rls_initplan).
policy_text as (
  select p.schemaname, p.tablename, p.policyname, p.cmd, p.roles, p.permissive,
         p.qual, p.with_check,
         lower(coalesce(p.qual, '') || ' ' || coalesce(p.with_check, '')) as expr
    from pg_catalog.pg_policies p
),
policy_checks as (
  select pg_catalog.format('policy %s: %s', e.tbl, e.name) as "check",
         case
           when t.policyname is null then 'missing'
           when t.cmd <> e.cmd then pg_catalog.format('is for %s, expected %s', t.cmd, e.cmd)
           when t.permissive <> 'PERMISSIVE' then 'is restrictive, expected permissive'
           when t.roles <> array['authenticated']::name[] then
             pg_catalog.format('applies to %s, expected {authenticated}', t.roles)
           when (t.qual is not null) <> e.has_using then
             case when e.has_using then 'has no USING clause' else 'has an unexpected USING clause' end
           when (t.with_check is not null) <> e.has_check then
             case when e.has_check then 'has no WITH CHECK clause' else 'has an unexpected WITH CHECK clause' end
           when regexp_replace(t.expr, 'select \(?auth\.\w+\(\)', '', 'g') ~ 'auth\.\w+\(' then
             'calls auth.* once per row; wrap it as (select auth.uid())'
           when t.expr !~ 'select \(?auth\.uid\(\)' then 'does not compare with (select auth.uid())'
           else ''
         end as problem,
         case when t.policyname is null then '' else coalesce(t.qual, t.with_check) end as shown
    from expected_policy e
    left join policy_text t
      on t.schemaname = 'public' and t.tablename = e.tbl and t.policyname = e.name
),
expected_index (tbl, name) as (
  values
    ('user_generations', 'user_generations_user_created_idx'),
    ('credit_ledger', 'credit_ledger_user_created_idx'),
    ('credit_ledger', 'credit_ledger_open_reservations_idx'),
    -- history_at_scale.sql: search, the reference count of stored files, my_stats().
    ('user_generations', 'user_generations_search_idx'),
    ('user_generations', 'user_generations_image_url_idx'),
    ('user_generations', 'user_generations_thumbnail_url_idx'),
    ('user_prompt_counts', 'user_prompt_counts_top_idx'),
    -- organising.sql
    ('user_generations', 'user_generations_starred_idx'),
    ('user_generations', 'user_generations_trash_idx'),
    ('user_generations', 'user_generations_trashed_at_idx'),
    ('collections', 'collections_user_name_idx'),
    ('collection_items', 'collection_items_page_idx'),
    ('collection_items', 'collection_items_generation_idx'),
    ('generation_tags', 'generation_tags_page_idx'),
    ('shares', 'shares_generation_recipient_idx'),
    ('shares', 'shares_collection_recipient_idx'),
    ('shares', 'shares_recipient_idx'),
    ('shares', 'shares_owner_idx'),
    ('public_links', 'public_links_owner_idx'),
    ('public_links', 'public_links_generation_idx'),
    ('public_links', 'public_links_collection_idx'),
    ('prompt_templates', 'prompt_templates_user_name_idx')
),
-- The functions a visitor without an account may call (organising.sql): opening
-- a public link. Every other function is closed to anon.
anon_function (signature) as (
  values ('open_public_link(token text, page_size integer, cursor_created_at timestamp with time zone, cursor_id uuid)')
),
-- Functions defined in public by their own SQL (extension members excluded).
public_function as (
  select f.oid, f.proname, f.prosecdef, f.proconfig,
         pg_catalog.format('%s(%s)', f.proname, pg_catalog.pg_get_function_identity_arguments(f.oid)) as signature
    from pg_catalog.pg_proc f
   where f.pronamespace = 'public'::regnamespace
     and f.prokind in ('f', 'p')
     and not exists (select from pg_catalog.pg_depend d
                      where d.classid = 'pg_catalog.pg_proc'::regclass
                        and d.objid = f.oid and d.deptype = 'e')
),
genvault_table (tbl, migration) as (
  values ('user_generations', 'generations.sql'), ('user_credits', 'credits.sql'),
         ('credit_ledger', 'credits.sql'), ('genvault_config', 'credits.sql'),
         ('user_generation_totals', 'history_at_scale.sql'),
         ('user_generation_days', 'history_at_scale.sql'),
         ('user_prompt_counts', 'history_at_scale.sql'),
         ('collections', 'organising.sql'), ('collection_items', 'organising.sql'),
         ('generation_tags', 'organising.sql'), ('shares', 'organising.sql'),
         ('public_links', 'organising.sql'), ('prompt_templates', 'organising.sql')
),
storage_policy (name, cmd) as (
  values
    ('Users can view their own generation files', 'SELECT'),
    ('Users can upload their own generation files', 'INSERT'),
    ('Users can update their own generation files', 'UPDATE'),
    ('Users can delete their own generation files', 'DELETE')
),
has_storage as (
  select pg_catalog.to_regclass('storage.objects') is not null as yes
)

-- Tables ----------------------------------------------------------------------
select pg_catalog.format('table public.%s exists', g.tbl),
       pg_catalog.to_regclass(pg_catalog.format('public.%I', g.tbl)) is not null,
       case when pg_catalog.to_regclass(pg_catalog.format('public.%I', g.tbl)) is null
            then pg_catalog.format('missing: apply %s', g.migration) else '' end
  from genvault_table g

-- Row Level Security on every table of our schemas -----------------------------
union all
select pg_catalog.format('rls enabled on %s.%s', n.nspname, c.relname),
       c.relrowsecurity,
       case when c.relrowsecurity then ''
            else pg_catalog.format('run: alter table %I.%I enable row level security', n.nspname, c.relname) end
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
 where n.nspname in ('public', 'genvault_meta')
   and c.relkind in ('r', 'p')

-- Policies ---------------------------------------------------------------------
union all
select p."check", p.problem = '', coalesce(nullif(p.problem, ''), p.shown)
  from policy_checks p

union all
select 'policy: no other policies on genvault tables',
       count(*) = 0,
       coalesce(string_agg(pg_catalog.format('%s: %s (%s)', t.tablename, t.policyname, t.cmd), '; '
                           order by t.tablename, t.policyname), '')
  from policy_text t
  join genvault_table g on g.tbl = t.tablename
 where t.schemaname = 'public'
   and not exists (select from expected_policy e
                    where e.tbl = t.tablename and e.name = t.policyname)

-- Indexes ----------------------------------------------------------------------
union all
select pg_catalog.format('index %s on %s', e.name, e.tbl),
       i.indexrelid is not null,
       case when i.indexrelid is null then 'missing'
            else pg_catalog.pg_get_indexdef(i.indexrelid) end
  from expected_index e
  left join pg_catalog.pg_index i
    on i.indexrelid = pg_catalog.to_regclass(pg_catalog.format('public.%I', e.name))
   and i.indrelid = pg_catalog.to_regclass(pg_catalog.format('public.%I', e.tbl))

-- Extensions -------------------------------------------------------------------
union all
select 'extension pg_trgm installed',
       count(*) = 1,
       coalesce(max(pg_catalog.format('version %s in schema %s', x.extversion, x.extnamespace::regnamespace)),
                'missing: create extension pg_trgm with schema extensions')
  from pg_catalog.pg_extension x
 where x.extname = 'pg_trgm'

-- What was made is recorded once: the trigger that refuses any change to a
-- generation's provenance columns, for every role.
union all
select 'trigger: provenance of user_generations is frozen',
       count(*) = 1,
       case when count(*) = 1 then 'user_generations_freeze_provenance enabled'
            else 'missing or disabled: apply generations.sql' end
  from pg_catalog.pg_trigger t
 where t.tgrelid = pg_catalog.to_regclass('public.user_generations')
   and t.tgname = 'user_generations_freeze_provenance'
   and t.tgenabled <> 'D'

-- Table privileges ---------------------------------------------------------------
union all
select 'grants: anon has no access to genvault tables',
       count(*) filter (where priv) = 0,
       coalesce(string_agg(g.tbl, ', ' order by g.tbl) filter (where priv), '')
  from genvault_table g,
       lateral (select c.oid is not null
                       and pg_catalog.has_table_privilege(
                             'anon', c.oid, 'select, insert, update, delete, truncate, references, trigger') as priv
                  from (select pg_catalog.to_regclass(pg_catalog.format('public.%I', g.tbl)) as oid) c) a

-- Users write only through the functions: a generation exists only because a
-- credit was spent for it, and every other row changes only through the
-- function that checks it.
union all
select 'grants: authenticated cannot write any genvault table directly',
       count(*) filter (where priv) = 0,
       coalesce(string_agg(g.tbl, ', ' order by g.tbl) filter (where priv), '')
  from genvault_table g,
       lateral (select c.oid is not null
                       and pg_catalog.has_table_privilege(
                             'authenticated', c.oid, 'insert, update, delete, truncate') as priv
                  from (select pg_catalog.to_regclass(pg_catalog.format('public.%I', g.tbl)) as oid) c) a

-- Functions --------------------------------------------------------------------
union all
select 'functions: security definer functions pin search_path',
       count(*) filter (where bad) = 0,
       case when count(*) filter (where bad) = 0
            then pg_catalog.format('%s security definer functions checked', count(*))
            else 'mutable search_path: '
                 || string_agg(f.signature, ', ' order by f.signature) filter (where bad) end
  from public_function f,
       lateral (select not exists (select from unnest(f.proconfig) as c (setting)
                                    where c.setting like 'search_path=%') as bad) b
 where f.prosecdef

union all
select 'functions: none executable by anon but open_public_link',
       count(*) filter (where bad) = 0,
       case when count(*) filter (where bad) = 0
            then pg_catalog.format('%s functions checked', count(*))
            else 'revoke execute from anon (and public): '
                 || string_agg(f.signature, ', ' order by f.signature) filter (where bad) end
  from public_function f,
       lateral (select pg_catalog.has_function_privilege('anon', f.oid, 'execute')
                       and f.signature not in (select a.signature from anon_function a) as bad) b

union all
select 'functions: admin_* not executable by authenticated',
       count(*) > 0 and count(*) filter (where bad) = 0,
       case when count(*) = 0 then 'no admin_* functions found: apply monitoring.sql'
            when count(*) filter (where bad) = 0
            then pg_catalog.format('%s admin functions checked', count(*))
            else 'revoke execute from authenticated (and public): '
                 || string_agg(f.signature, ', ' order by f.signature) filter (where bad) end
  from public_function f,
       lateral (select pg_catalog.has_function_privilege('authenticated', f.oid, 'execute') as bad) b
 where f.proname like 'admin\_%'

-- Storage (where a storage schema exists) -----------------------------------------
union all
select 'storage: bucket generations is private',
       s.yes is false or pg_temp.genvault_bucket_problem() = '',
       case when s.yes then pg_temp.genvault_bucket_problem()
            else 'skipped: no Storage schema here' end
  from has_storage s

union all
select 'storage: rls enabled on storage.objects',
       s.yes is false or coalesce(c.relrowsecurity, false),
       case when not s.yes then 'skipped: no Storage schema here'
            when c.relrowsecurity then '' else 'row level security is off' end
  from has_storage s
  left join pg_catalog.pg_class c on c.oid = pg_catalog.to_regclass('storage.objects')

union all
select pg_catalog.format('storage: policy %s', e.name),
       s.yes is false
         or (t.cmd = e.cmd and t.roles = array['authenticated']::name[]
             and t.expr ~ 'bucket_id = ''generations''' and t.expr ~ 'storage\.foldername\(name\)'
             and t.expr ~ 'select \(?auth\.uid\(\)'),
       case when not s.yes then 'skipped: no Storage schema here'
            when t.policyname is null then 'missing: apply storage.sql'
            else coalesce(t.qual, t.with_check) end
  from storage_policy e
  cross join has_storage s
  left join policy_text t
    on t.schemaname = 'storage' and t.tablename = 'objects' and t.policyname = e.name

union all
select 'storage: policy Share recipients can view shared generation files',
       s.yes is false
         or (t.cmd = 'SELECT' and t.roles = array['authenticated']::name[]
             and t.expr ~ 'bucket_id = ''generations'''
             and t.expr ~ 'genvault_is_shared_file\(name\)'),
       case when not s.yes then 'skipped: no Storage schema here'
            when t.policyname is null then 'missing: apply storage_sharing.sql'
            else t.qual end
  from has_storage s
  left join policy_text t
    on t.schemaname = 'storage' and t.tablename = 'objects'
   and t.policyname = 'Share recipients can view shared generation files';

select * from genvault_checks order by ok, "check";

-- genvault:assert
-- Fail loudly when any check failed (SQLSTATE P0004, assert_failure), listing
-- each failed check with what was found.
do $$
declare
  failures text;
  failed integer;
begin
  select count(*),
         string_agg(c."check" || coalesce(': ' || nullif(c.detail, ''), ''), E'\n' order by c."check")
    into failed, failures
    from genvault_checks c
   where not c.ok;
  if failed > 0 then
    raise exception 'genvault verify: % check(s) failed', failed
      using errcode = 'P0004', detail = failures;
  end if;
end
$$;
