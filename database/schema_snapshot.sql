-- =============================================================================
-- genvault: the schema as text, read from the catalogs. Read-only.
--
-- One text, built from pieces in a fixed order: the extensions, then each table of
-- public and genvault_meta with its columns, constraints, indexes, Row Level
-- Security, policies, triggers and grants, genvault's triggers and policies on
-- Supabase's own tables (auth.users, storage.objects), and each function of
-- public with its signature, attributes, body and grants, with a blank line
-- between objects. It is database/schema.sql, which
-- scripts/schema-snapshot writes from a freshly migrated database and the
-- tests compare with one on every run.
--
-- Built from the catalogs, not from pg_dump, and ordered by name in the "C"
-- collation, so that PostgreSQL 15 and 18 give the same text: the NOT NULL
-- constraints PostgreSQL 18 keeps in pg_constraint are shown as the columns'
-- "not null", and the MAINTAIN privilege (PostgreSQL 17 and later) is left out.
-- The owner's own privileges are left out too; everything else granted is shown.
--
-- How PostgreSQL prints names and intervals depends on two settings, so they
-- are fixed first (for this session: run it inside a transaction that is
-- rolled back, as scripts/schema-snapshot does, to keep yours).
-- =============================================================================

set search_path = '';
set intervalstyle = 'postgres';

with
shown_schema (nspname) as (
  values ('public'), ('genvault_meta')
),
tbl as (
  select c.oid, c.relowner, c.relacl, c.relrowsecurity, c.relforcerowsecurity,
         pg_catalog.format('%I.%I', n.nspname, c.relname) as name
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
   where n.nspname in (select s.nspname from shown_schema s)
     and c.relkind in ('r', 'p')
),
fn as (
  select f.oid, f.proowner, f.proacl,
         pg_catalog.format('%I.%I(%s)', n.nspname, f.proname,
                           pg_catalog.pg_get_function_identity_arguments(f.oid)) as name,
         pg_catalog.format('%I.%I(%s)', n.nspname, f.proname,
                           pg_catalog.oidvectortypes(f.proargtypes)) as target
    from pg_catalog.pg_proc f
    join pg_catalog.pg_namespace n on n.oid = f.pronamespace
   where n.nspname = 'public'
     and not exists (select from pg_catalog.pg_depend d
                      where d.classid = 'pg_catalog.pg_proc'::regclass
                        and d.objid = f.oid and d.deptype = 'e')
),
-- Tables outside our schemas that genvault adds triggers or policies to.
foreign_tbl as (
  select distinct c.oid, pg_catalog.format('%I.%I', n.nspname, c.relname) as name
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
   where n.nspname not in (select s.nspname from shown_schema s)
     and (exists (select from pg_catalog.pg_trigger t
                   join pg_catalog.pg_proc f on f.oid = t.tgfoid
                  where t.tgrelid = c.oid and not t.tgisinternal
                    and f.pronamespace = 'public'::regnamespace)
          or exists (select from pg_catalog.pg_policy p where p.polrelid = c.oid))
),
any_tbl as (
  select t.oid, t.name from tbl t
  union all
  select f.oid, f.name from foreign_tbl f
),
-- Who holds what on tables, their columns and functions: the access list
-- (the default one where there is none), without the owner and without
-- MAINTAIN, one grant per grantee with the privileges in alphabetical order.
acl_of (kind, name, col, target, owner, acl) as (
  select 2, t.name, null::name, 'table ' || t.name, t.relowner,
         coalesce(t.relacl, pg_catalog.acldefault('r', t.relowner))
    from tbl t
  union all
  select 2, t.name, c.attname, 'table ' || t.name, t.relowner, c.attacl
    from tbl t
    join pg_catalog.pg_attribute c on c.attrelid = t.oid and c.attnum > 0 and not c.attisdropped
   where c.attacl is not null
  union all
  select 3, f.name, null::name, 'function ' || f.target, f.proowner,
         coalesce(f.proacl, pg_catalog.acldefault('f', f.proowner))
    from fn f
),
held as (
  select h.kind, h.name, h.col is not null as on_column,
         coalesce(h.col::text || ' ', '') || coalesce(r.rolname::text, '') as grantee,
         pg_catalog.format('grant %s%s on %s to %s;',
           string_agg(lower(a.privilege_type), ', ' order by a.privilege_type collate "C"),
           case when h.col is null then '' else pg_catalog.format(' (%I)', h.col) end,
           h.target,
           case a.grantee when 0 then 'public' else pg_catalog.quote_ident(r.rolname) end) as line
    from acl_of h
    cross join lateral pg_catalog.aclexplode(h.acl) a
    left join pg_catalog.pg_roles r on r.oid = a.grantee
   where a.grantee <> h.owner and a.privilege_type <> 'MAINTAIN'
   group by h.kind, h.name, h.col, h.target, a.grantee, r.rolname
),
piece (kind, object, part, item, body) as (
  select 0, '', 0, '',
         '-- genvault''s schema as the migrations leave it. Generated by scripts/schema-snapshot'
         || E'\n-- from database/schema_snapshot.sql: do not edit it, and do not run it (the'
         || E'\n-- migrations build the schema). A change to the migrations that changes the schema'
         || E'\n-- changes this file too; the tests compare the two.'

  union all
  select 1, x.extname, 0, '',
         pg_catalog.format('create extension %I with schema %I;', x.extname, n.nspname)
    from pg_catalog.pg_extension x
    join pg_catalog.pg_namespace n on n.oid = x.extnamespace
   where x.extname <> 'plpgsql'

  -- Tables: the columns, in their order.
  union all
  select 2, t.name, 0, '',
         pg_catalog.format(E'create table %s (\n%s\n);', t.name, string_agg(
           pg_catalog.format('  %I %s%s%s%s', a.attname,
             pg_catalog.format_type(a.atttypid, a.atttypmod),
             case when a.attcollation <> ty.typcollation
                  then pg_catalog.format(' collate %s', a.attcollation::regcollation) else '' end,
             case when a.attnotnull then ' not null' else '' end,
             case when d.adbin is not null
                  then ' default ' || pg_catalog.pg_get_expr(d.adbin, d.adrelid) else '' end),
           E',\n' order by a.attnum))
    from tbl t
    join pg_catalog.pg_attribute a on a.attrelid = t.oid and a.attnum > 0 and not a.attisdropped
    join pg_catalog.pg_type ty on ty.oid = a.atttypid
    left join pg_catalog.pg_attrdef d on d.adrelid = t.oid and d.adnum = a.attnum
   group by t.name

  union all
  select 2, t.name, 1, c.conname::text,
         pg_catalog.format('alter table %s add constraint %I %s;', t.name, c.conname,
                           pg_catalog.pg_get_constraintdef(c.oid))
    from tbl t
    join pg_catalog.pg_constraint c on c.conrelid = t.oid
   where c.contype <> 'n'

  union all
  select 2, t.name, 2, ic.relname::text,
         pg_catalog.pg_get_indexdef(i.indexrelid) || ';'
    from tbl t
    join pg_catalog.pg_index i on i.indrelid = t.oid
    join pg_catalog.pg_class ic on ic.oid = i.indexrelid
   where not exists (select from pg_catalog.pg_constraint c where c.conindid = i.indexrelid
                                                              and c.conrelid = t.oid)

  union all
  select 2, t.name, 3, '',
         pg_catalog.format('alter table %s %s row level security;', t.name,
                           case when t.relrowsecurity then 'enable' else 'disable' end)
         || case when t.relforcerowsecurity
                 then pg_catalog.format(E'\nalter table %s force row level security;', t.name)
                 else '' end
    from tbl t

  union all
  select 2, t.name, 4, p.polname::text,
         pg_catalog.format('create policy %I on %s as %s for %s to %s%s%s;', p.polname, t.name,
           case when p.polpermissive then 'permissive' else 'restrictive' end,
           case p.polcmd when 'r' then 'select' when 'a' then 'insert' when 'w' then 'update'
                         when 'd' then 'delete' else 'all' end,
           (select string_agg(case o.role when 0 then 'public'
                                    else pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(o.role)) end,
                              ', ' order by case o.role when 0 then 'public'
                                    else pg_catalog.pg_get_userbyid(o.role)::text end collate "C")
              from unnest(p.polroles) as o(role)),
           case when p.polqual is not null
                then E'\n  using (' || pg_catalog.pg_get_expr(p.polqual, p.polrelid) || ')' else '' end,
           case when p.polwithcheck is not null
                then E'\n  with check (' || pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) || ')'
                else '' end)
    from any_tbl t
    join pg_catalog.pg_policy p on p.polrelid = t.oid

  union all
  select 2, t.name, 5, g.tgname::text,
         pg_catalog.pg_get_triggerdef(g.oid) || ';'
         || case g.tgenabled when 'O' then ''
                 else pg_catalog.format(E'\n-- trigger %I is not enabled (%s)', g.tgname, g.tgenabled) end
    from any_tbl t
    join pg_catalog.pg_trigger g on g.tgrelid = t.oid
   where not g.tgisinternal
     and (t.oid in (select x.oid from tbl x)
          or exists (select from pg_catalog.pg_proc f
                      where f.oid = g.tgfoid and f.pronamespace = 'public'::regnamespace))

  -- Supabase's tables: only what genvault adds to them.
  union all
  select 2, t.name, 0, '',
         pg_catalog.format('-- %s is not genvault''s: what genvault adds to it', t.name)
    from foreign_tbl t

  union all
  select h.kind, h.name, 6 + h.on_column::int, h.grantee, h.line from held h

  -- Functions: the definition as PostgreSQL shows it (signature, result,
  -- language, volatility, security, settings, body), without trailing spaces.
  union all
  select 3, f.name, 0, '',
         pg_catalog.regexp_replace(rtrim(pg_catalog.pg_get_functiondef(f.oid), E' \n'),
                                   '[ \t]+$', '', 'gn') || ';'
    from fn f
)
-- One text: the pieces in order, a blank line before each new object.
select string_agg(o.body, E'\n' order by o.n) || E'\n' as schema
  from (select case when pg_catalog.row_number() over w > 1
                         and (pg_catalog.lag(p.kind) over w <> p.kind
                              or pg_catalog.lag(p.object) over w <> p.object)
                    then E'\n' else '' end || p.body as body,
               pg_catalog.row_number() over w as n
          from piece p
        window w as (order by p.kind, p.object collate "C", p.part, p.item collate "C")) o;
