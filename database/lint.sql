-- genvault: the database linter's security and performance rules, as queries.
--
-- Supabase's dashboard and `supabase db lint` report these problems; this file
-- looks for the same ones in any PostgreSQL (hosted Supabase, the local
-- Supabase layer, the embedded server), so that they are caught before a
-- migration ships. Each row is one finding: the rule (with the number Supabase
-- gives it), the object, and what is wrong. No row means nothing was found.
--
-- Read-only. Paste it into the SQL editor; the test suite runs it on every
-- migrated database and fails on any finding not explained in
-- database/lint_accepted.txt.
with
exposed (nspname) as (values ('public'), ('graphql_public')),
own_table as (
  select c.oid, n.nspname, c.relname, c.relrowsecurity,
         pg_catalog.format('%I.%I', n.nspname, c.relname) as name
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    join exposed e on e.nspname = n.nspname
   where c.relkind in ('r', 'p')
     and not exists (select from pg_catalog.pg_depend d
                      where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                        and d.objid = c.oid and d.deptype = 'e')
),
own_function as (
  select p.oid, p.prosecdef, p.proconfig, p.prorettype,
         pg_catalog.format('%I.%I(%s)', n.nspname, p.proname,
                           pg_catalog.pg_get_function_identity_arguments(p.oid)) as name
    from pg_catalog.pg_proc p
    join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    join exposed e on e.nspname = n.nspname
   where not exists (select from pg_catalog.pg_depend d
                      where d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                        and d.objid = p.oid and d.deptype = 'e')
),
policy as (
  select p.schemaname, p.tablename, p.policyname, p.cmd, p.roles, p.permissive,
         pg_catalog.format('%I.%I', p.schemaname, p.tablename) as tbl,
         pg_catalog.lower(coalesce(p.qual, '') || ' ' || coalesce(p.with_check, '')) as clauses
    from pg_catalog.pg_policies p
    join exposed e on e.nspname = p.schemaname
),
finding (lint, object, detail) as (
  -- 0001: a foreign key without an index that starts with its columns makes
  -- every delete of the referenced row scan the referencing table.
  select '0001_unindexed_foreign_keys', t.name || ' ' || pg_catalog.quote_ident(k.conname),
         'no index starts with the columns of this foreign key'
    from own_table t
    join pg_catalog.pg_constraint k on k.conrelid = t.oid and k.contype = 'f'
   where not exists (
           select from pg_catalog.pg_index i
            where i.indrelid = t.oid
              and (i.indkey::int2[])[0:pg_catalog.cardinality(k.conkey) - 1]
                  operator(pg_catalog.@>) k.conkey
              and (i.indkey::int2[])[0:pg_catalog.cardinality(k.conkey) - 1]
                  operator(pg_catalog.<@) k.conkey)

  -- 0002: a view in an exposed schema that reads auth.users hands out users'
  -- emails.
  union all
  select '0002_auth_users_exposed', pg_catalog.format('%I.%I', n.nspname, c.relname),
         'a view or materialized view in an exposed schema reads auth.users'
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    join exposed e on e.nspname = n.nspname
    join pg_catalog.pg_depend d on d.refobjid = c.oid
    join pg_catalog.pg_rewrite w on w.oid = d.objid
    join pg_catalog.pg_depend u on u.objid = w.oid
   where c.relkind in ('v', 'm')
     and u.refobjid = pg_catalog.to_regclass('auth.users')

  -- 0003: auth.uid(), auth.jwt() and friends called per row instead of once
  -- per statement: wrap them as (select auth.uid()).
  union all
  select '0003_auth_rls_initplan', p.tbl || ' ' || pg_catalog.quote_ident(p.policyname),
         'calls auth.* or current_setting() without (select ...): evaluated for every row'
    from policy p
   where pg_catalog.regexp_replace(p.clauses, '\(\s*select\s+(auth\.\w+\(\)|current_setting\([^)]*\))[^)]*\)', '', 'g')
         ~ '(auth\.\w+\(\)|current_setting\()'

  -- 0006: two permissive policies for the same role and command are both
  -- evaluated for every row.
  union all
  select '0006_multiple_permissive_policies', p.tbl,
         pg_catalog.format('role %s, %s: %s', r.role, p.cmd,
                           pg_catalog.string_agg(p.policyname, ', ' order by p.policyname))
    from policy p, pg_catalog.unnest(p.roles) as r (role)
   where p.permissive = 'PERMISSIVE'
   group by p.tbl, r.role, p.cmd
  having pg_catalog.count(*) > 1

  -- 0007: policies written for a table whose RLS is off protect nothing.
  union all
  select '0007_policy_exists_rls_disabled', t.name,
         'has policies, but Row Level Security is disabled'
    from own_table t
   where not t.relrowsecurity
     and exists (select from policy p where p.tbl = t.name)

  -- 0008: RLS on and no policy: nobody but the owner and service_role can read
  -- it. Sometimes exactly the intent; each such table is explained.
  union all
  select '0008_rls_enabled_no_policy', t.name,
         'Row Level Security is enabled but no policy exists'
    from own_table t
   where t.relrowsecurity
     and not exists (select from policy p where p.tbl = t.name)

  -- 0009: two identical indexes cost every write twice.
  union all
  select '0009_duplicate_index', t.name,
         pg_catalog.string_agg(pg_catalog.quote_ident(c.relname), ', ' order by c.relname)
    from own_table t
    join pg_catalog.pg_index i on i.indrelid = t.oid
    join pg_catalog.pg_class c on c.oid = i.indexrelid
   group by t.name, i.indkey::text, i.indclass::text, coalesce(i.indexprs::text, ''),
            coalesce(i.indpred::text, '')
  having pg_catalog.count(*) > 1

  -- 0010: a view in an exposed schema that runs with its creator's rights
  -- bypasses the reader's RLS.
  union all
  select '0010_security_definer_view', pg_catalog.format('%I.%I', n.nspname, c.relname),
         'a view without security_invoker runs as its owner, bypassing RLS'
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    join exposed e on e.nspname = n.nspname
   where c.relkind = 'v'
     and not coalesce(c.reloptions, '{}') && array['security_invoker=true', 'security_invoker=on']

  -- 0011: a function without a pinned search_path resolves names through
  -- whatever the caller set.
  union all
  select '0011_function_search_path_mutable', f.name, 'no search_path is set on the function'
    from own_function f
   where not exists (select from pg_catalog.unnest(f.proconfig) as c (setting)
                      where c.setting like 'search\_path=%')

  -- 0013: a table in an exposed schema without RLS is open to every grant.
  union all
  select '0013_rls_disabled_in_public', t.name, 'Row Level Security is disabled'
    from own_table t
   where not t.relrowsecurity

  -- 0014: extensions installed into an exposed schema put their functions on
  -- the API.
  union all
  select '0014_extension_in_public', x.extname,
         pg_catalog.format('installed in schema %s', n.nspname)
    from pg_catalog.pg_extension x
    join pg_catalog.pg_namespace n on n.oid = x.extnamespace
    join exposed e on e.nspname = n.nspname

  -- 0015: user_metadata is editable by the user, so a policy must not trust it.
  union all
  select '0015_rls_references_user_metadata', p.tbl || ' ' || pg_catalog.quote_ident(p.policyname),
         'reads user_metadata, which users can change themselves'
    from policy p
   where p.clauses like '%user_metadata%'

  -- 0016: a materialized view in an exposed schema has no RLS at all.
  union all
  select '0016_materialized_view_in_api', pg_catalog.format('%I.%I', n.nspname, c.relname),
         'a materialized view is readable whole by every role with SELECT'
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    join exposed e on e.nspname = n.nspname
   where c.relkind = 'm'

  -- 0028 and 0029: a SECURITY DEFINER function that anon or authenticated may
  -- call runs with its owner's rights on behalf of anyone holding the key.
  -- Some are the point (the contract's writers); each one is explained.
  union all
  select case r.role when 'anon' then '0028_anon_security_definer_function_executable'
                     else '0029_authenticated_security_definer_function_executable' end,
         f.name, pg_catalog.format('%s may call this SECURITY DEFINER function', r.role)
    from own_function f
    cross join (values ('anon'), ('authenticated')) as r (role)
   where f.prosecdef
     and f.prorettype <> 'pg_catalog.trigger'::pg_catalog.regtype
     and pg_catalog.has_function_privilege(r.role, f.oid, 'EXECUTE')
)
select f.lint, f.object, f.detail
  from finding f
 order by f.lint, f.object;
