-- =============================================================================
-- genvault: debugging queries.
--
-- Read-only: every statement below is a SELECT (the one example that switches
-- role is commented out). Paste the whole file into the Supabase SQL editor or
-- psql, or run one query at a time.
--
-- Two things trip people up:
--   * A direct session (the SQL editor, psql as postgres) bypasses Row Level
--     Security and carries no JWT, so auth.uid() is NULL and you see every row.
--     To see what a user sees, use the "act as a user" example below.
--   * auth.uid() is a uuid and user_id is text: always compare
--     user_id = auth.uid()::text, never user_id = auth.uid().
-- =============================================================================

-- -----------------------------------------------------------------------------
-- Who am I? The database role, the API role from the JWT, and the user id.
-- auth.uid() and auth.role() are NULL in a direct session without claims.
-- -----------------------------------------------------------------------------
select current_user   as database_role,
       session_user   as login_role,
       auth.role()    as jwt_role,
       auth.uid()     as user_id,
       auth.email()   as email,
       public.genvault_is_operator() as acts_as_operator;

-- -----------------------------------------------------------------------------
-- Act as a user (example, commented out). Everything happens in one
-- transaction that is rolled back, the way PostgREST sets role and claims per
-- request. Replace the uuid with a real auth.users id.
-- -----------------------------------------------------------------------------
-- begin;
-- select set_config('role', 'authenticated', true),
--        set_config('request.jwt.claims',
--                   '{"sub": "00000000-0000-0000-0000-000000000000", "role": "authenticated"}', true);
-- select auth.uid(), count(*) from public.user_generations;
-- rollback;

-- -----------------------------------------------------------------------------
-- My rows: what the current user owns (0 everywhere when auth.uid() is NULL).
-- -----------------------------------------------------------------------------
select (select count(*) from public.user_generations g where g.user_id = auth.uid()::text) as generations,
       (select c.credits from public.user_credits c where c.user_id = auth.uid()::text)   as credits,
       (select count(*) from public.credit_ledger l where l.user_id = auth.uid()::text)   as ledger_entries;

-- -----------------------------------------------------------------------------
-- Row Level Security: is it on, and which policies apply to which roles?
-- Every genvault table must show rls_enabled = true.
-- -----------------------------------------------------------------------------
select n.nspname || '.' || c.relname as table_name,
       c.relrowsecurity              as rls_enabled,
       c.relforcerowsecurity         as rls_forced_for_owner
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
 where n.nspname in ('public', 'genvault_meta')
   and c.relkind in ('r', 'p')
 order by 1;

-- The policies themselves. A policy should name `authenticated` in roles and
-- read "( SELECT auth.uid() AS uid)" (evaluated once per statement).
select schemaname, tablename, policyname, cmd, roles, qual as using_clause, with_check
  from pg_catalog.pg_policies
 where (schemaname = 'public'
        and tablename in ('user_generations', 'user_credits', 'credit_ledger', 'genvault_config'))
    or (schemaname = 'storage' and tablename = 'objects')
 order by schemaname, tablename, cmd, policyname;

-- Which API roles hold which table privileges (anon should hold none).
select table_name, grantee, string_agg(privilege_type, ', ' order by privilege_type) as privileges
  from information_schema.role_table_grants
 where table_schema = 'public'
   and table_name in ('user_generations', 'user_credits', 'credit_ledger', 'genvault_config')
   and grantee in ('anon', 'authenticated', 'service_role')
 group by table_name, grantee
 order by table_name, grantee;

-- Which API roles may call which functions (anon should call none).
select p.proname || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')' as function,
       p.prosecdef as security_definer,
       pg_catalog.has_function_privilege('anon', p.oid, 'execute')          as anon,
       pg_catalog.has_function_privilege('authenticated', p.oid, 'execute') as authenticated,
       pg_catalog.has_function_privilege('service_role', p.oid, 'execute')  as service_role
  from pg_catalog.pg_proc p
 where p.pronamespace = 'public'::regnamespace
 order by p.proname;

-- -----------------------------------------------------------------------------
-- Recent generations, newest first (every user's in a direct session, only
-- the caller's when acting as a user).
-- -----------------------------------------------------------------------------
select g.id, g.user_id, g.created_at, g.model,
       left(g.prompt, 60) as prompt,
       g.image_url, g.image_bytes
  from public.user_generations g
 order by g.created_at desc, g.id desc
 limit 20;

-- -----------------------------------------------------------------------------
-- Credits: each balance must equal the sum of its ledger. Any row here with
-- consistent = false is a bug; mismatches are listed first.
-- -----------------------------------------------------------------------------
select c.user_id,
       c.credits,
       coalesce(l.ledger_sum, 0)                as ledger_sum,
       c.credits = coalesce(l.ledger_sum, 0)    as consistent,
       c.updated_at
  from public.user_credits c
  left join (select user_id, sum(delta) as ledger_sum
               from public.credit_ledger
              group by user_id) l on l.user_id = c.user_id
 order by consistent, c.updated_at desc
 limit 100;

-- -----------------------------------------------------------------------------
-- Open reservations older than the configured TTL: credits held by clients
-- that crashed. expire_reservations() refunds exactly these.
-- -----------------------------------------------------------------------------
select r.id as reservation_id, r.user_id, r.generation_id, r.idempotency_key,
       r.created_at, now() - r.created_at as age, cfg.reservation_ttl
  from public.credit_ledger r
 cross join public.genvault_config cfg
 where r.reason = 'reserve'
   and r.created_at <= now() - cfg.reservation_ttl
   and not exists (select from public.credit_ledger s where s.settles = r.id)
 order by r.created_at;

-- -----------------------------------------------------------------------------
-- Storage estimate per user: measured bytes where image_bytes is known, and
-- how many rows lack a size. Then the size of the table with its indexes.
-- -----------------------------------------------------------------------------
select g.user_id,
       count(*)                                        as images,
       pg_catalog.pg_size_pretty(coalesce(sum(g.image_bytes), 0)) as known_size,
       count(*) filter (where g.image_bytes is null)   as without_size,
       min(g.created_at)                               as first_at,
       max(g.created_at)                               as last_at
  from public.user_generations g
 group by g.user_id
 order by coalesce(sum(g.image_bytes), 0) desc, images desc
 limit 50;

select pg_catalog.pg_size_pretty(pg_catalog.pg_total_relation_size('public.user_generations')) as table_with_indexes,
       pg_catalog.pg_size_pretty(pg_catalog.pg_indexes_size('public.user_generations'))        as indexes_only;
