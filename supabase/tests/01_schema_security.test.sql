-- Schema-wide guarantees: every table has Row Level Security, the policies are
-- the expected ones (read-only, for authenticated, with the initPlan form of
-- auth.uid()), users write no table directly, and functions are locked down.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(19);

-- Tables ---------------------------------------------------------------------
select has_table('public', 'user_generations', 'table user_generations exists');
select has_table('public', 'user_credits', 'table user_credits exists');
select has_table('public', 'credit_ledger', 'table credit_ledger exists');
select has_table('public', 'genvault_config', 'table genvault_config exists');

select is_empty(
  $$ select n.nspname || '.' || c.relname
       from pg_catalog.pg_class c
       join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where n.nspname in ('public', 'genvault_meta')
        and c.relkind in ('r', 'p')
        and not c.relrowsecurity $$,
  'every table in public and genvault_meta has row level security enabled'
);

-- Policies -------------------------------------------------------------------
select policies_are('public', 'user_generations', array['Users can view their own generations'],
  'user_generations has only its read policy: rows are written by the functions');
select policies_are('public', 'user_credits', array['Users can read their own credits'],
  'user_credits has only its read policy');
select policies_are('public', 'credit_ledger', array['Users can read their own ledger'],
  'credit_ledger has only its read policy');
select policies_are('public', 'genvault_config', array[]::name[],
  'genvault_config has no policy (operators only)');

select policy_cmd_is('public', 'user_generations', 'Users can view their own generations', 'select',
  'Users can view their own generations: for select');
select policy_cmd_is('public', 'user_credits', 'Users can read their own credits', 'select',
  'Users can read their own credits: for select');
select policy_cmd_is('public', 'credit_ledger', 'Users can read their own ledger', 'select',
  'Users can read their own ledger: for select');

select policy_roles_are('public', 'user_generations', 'Users can view their own generations', array['authenticated'],
  'Users can view their own generations: to authenticated only');
select policy_roles_are('public', 'user_credits', 'Users can read their own credits', array['authenticated'],
  'Users can read their own credits: to authenticated only');
select policy_roles_are('public', 'credit_ledger', 'Users can read their own ledger', array['authenticated'],
  'Users can read their own ledger: to authenticated only');

-- Every policy compares with the caller's id, in the initPlan form that
-- pg_policies shows as "( SELECT auth.uid() AS uid)"; any other auth.* call
-- would run once per row.
select is_empty(
  $$ select tablename || ': ' || policyname
       from (select tablename, policyname,
                    lower(coalesce(qual, '') || ' ' || coalesce(with_check, '')) as expr
               from pg_catalog.pg_policies
              where schemaname = 'public') p
      where p.expr !~ 'select \(?auth\.uid\(\)'
         or regexp_replace(p.expr, 'select \(?auth\.\w+\(\)', '', 'g') ~ 'auth\.\w+\(' $$,
  'every policy compares with (select auth.uid()), evaluated once per statement'
);

-- No API role writes a table: a generation exists only because a credit was
-- spent for it, and everything else changes through its function.
select is_empty(
  $$ select c.relname || ' ' || r.role
       from pg_catalog.pg_class c
       cross join (values ('anon'), ('authenticated')) as r (role)
      where c.relnamespace = 'public'::regnamespace
        and c.relkind in ('r', 'p')
        and pg_catalog.has_table_privilege(r.role, c.oid, 'insert, update, delete, truncate') $$,
  'anon and authenticated hold no write privilege on any table in public'
);

-- Functions ------------------------------------------------------------------
-- Functions that belong to an extension (pgTAP itself may live in public) are
-- not genvault's and are left out.
select is_empty(
  $$ select p.oid::regprocedure::text
       from pg_catalog.pg_proc p
      where p.pronamespace = 'public'::regnamespace
        and p.prosecdef
        and not exists (select from unnest(p.proconfig) c where c like 'search_path=%')
        and not exists (select from pg_catalog.pg_depend d
                         where d.classid = 'pg_catalog.pg_proc'::regclass
                           and d.objid = p.oid and d.deptype = 'e') $$,
  'every security definer function in public pins its search_path'
);

select is_empty(
  $$ select p.oid::regprocedure::text
       from pg_catalog.pg_proc p
      where p.pronamespace = 'public'::regnamespace
        and pg_catalog.has_function_privilege('anon', p.oid, 'execute')
        and p.oid <> 'public.open_public_link(text, integer, timestamptz, uuid)'::regprocedure
        and not exists (select from pg_catalog.pg_depend d
                         where d.classid = 'pg_catalog.pg_proc'::regclass
                           and d.objid = p.oid and d.deptype = 'e') $$,
  'anon can execute no function in public but open_public_link (a visitor with a link)'
);

select * from finish();
rollback;
