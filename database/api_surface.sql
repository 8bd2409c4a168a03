-- genvault: the API surface of this database, as anyone with the public key sees it.
--
-- On Supabase every privilege that anon or authenticated holds on a table, a
-- column, a sequence or a function in an exposed schema is an endpoint of
-- /rest/v1 (and /graphql/v1), whatever genvault's own client calls. This query
-- lists each of them, one row per (role, privilege, kind, object), together with
-- PUBLIC's grants (which every role inherits) and the default privileges that
-- will apply to objects created later.
--
-- Read-only. Paste it into the SQL editor and compare the result with
-- database/api_surface.txt, the reviewed list in which every line says why the
-- privilege exists; the test suite does that comparison on every run.
with
exposed (nspname) as (values ('public'), ('graphql_public')),
api_role (rolname) as (values ('anon'), ('authenticated')),
-- MAINTAIN (VACUUM, ANALYZE, REFRESH, ...) exists from PostgreSQL 17 on.
table_privilege (priv) as (
  select v.priv
    from (values ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'),
                 ('REFERENCES'), ('TRIGGER'), ('MAINTAIN')) as v (priv)
   where v.priv <> 'MAINTAIN'
      or pg_catalog.current_setting('server_version_num')::int >= 170000
),
relation as (
  select c.oid, c.relkind, c.relacl, c.relowner,
         pg_catalog.format('%I.%I', n.nspname, c.relname) as name,
         case c.relkind when 'S' then 'sequence' when 'v' then 'view'
                        when 'm' then 'materialized view' when 'f' then 'foreign table'
                        else 'table' end as kind
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    join exposed e on e.nspname = n.nspname
   where c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
     and not exists (select from pg_catalog.pg_depend d
                      where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                        and d.objid = c.oid and d.deptype = 'e')
),
func as (
  select p.oid, p.proacl, p.proowner,
         pg_catalog.format('%I.%I(%s)', n.nspname, p.proname,
                           pg_catalog.pg_get_function_identity_arguments(p.oid)) as name
    from pg_catalog.pg_proc p
    join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    join exposed e on e.nspname = n.nspname
   where not exists (select from pg_catalog.pg_depend d
                      where d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                        and d.objid = p.oid and d.deptype = 'e')
),
surface (role, privilege, kind, object) as (
  -- The exposed schemas themselves.
  select r.rolname, p.priv, 'schema', pg_catalog.quote_ident(n.nspname)
    from exposed e
    join pg_catalog.pg_namespace n on n.nspname = e.nspname
    cross join api_role r
    cross join (values ('USAGE'), ('CREATE')) as p (priv)
   where pg_catalog.has_schema_privilege(r.rolname, n.oid, p.priv)

  -- Tables, views and the like.
  union all
  select r.rolname, p.priv, t.kind, t.name
    from relation t
    cross join api_role r
    cross join table_privilege p
   where t.relkind <> 'S'
     and pg_catalog.has_table_privilege(r.rolname, t.oid, p.priv)

  -- Columns granted on their own (the table-wide grants above already cover the rest).
  union all
  select r.rolname, p.priv, 'column', t.name || '.' || pg_catalog.quote_ident(a.attname)
    from relation t
    join pg_catalog.pg_attribute a on a.attrelid = t.oid and a.attnum > 0 and not a.attisdropped
    cross join api_role r
    cross join (values ('SELECT'), ('INSERT'), ('UPDATE'), ('REFERENCES')) as p (priv)
   where t.relkind <> 'S'
     and pg_catalog.has_column_privilege(r.rolname, t.oid, a.attnum, p.priv)
     and not pg_catalog.has_table_privilege(r.rolname, t.oid, p.priv)

  -- Sequences.
  union all
  select r.rolname, p.priv, 'sequence', t.name
    from relation t
    cross join api_role r
    cross join (values ('USAGE'), ('SELECT'), ('UPDATE')) as p (priv)
   where t.relkind = 'S'
     and pg_catalog.has_sequence_privilege(r.rolname, t.oid, p.priv)

  -- Functions (a role may call one it holds EXECUTE on directly or through PUBLIC).
  union all
  select r.rolname, 'EXECUTE', 'function', f.name
    from func f
    cross join api_role r
   where pg_catalog.has_function_privilege(r.rolname, f.oid, 'EXECUTE')

  -- What PUBLIC itself holds: every role, present and future, inherits it.
  union all
  select 'PUBLIC', x.privilege_type, t.kind, t.name
    from relation t,
         pg_catalog.aclexplode(coalesce(t.relacl, pg_catalog.acldefault(
           case when t.relkind = 'S' then 's' else 'r' end::"char", t.relowner))) as x
   where x.grantee = 0
  union all
  select 'PUBLIC', x.privilege_type, 'function', f.name
    from func f,
         pg_catalog.aclexplode(coalesce(f.proacl, pg_catalog.acldefault('f', f.proowner))) as x
   where x.grantee = 0

  -- Default privileges: what objects created later in these schemas will grant.
  union all
  select case x.grantee when 0 then 'PUBLIC' else pg_catalog.pg_get_userbyid(x.grantee) end,
         x.privilege_type,
         'default for ' || case d.defaclobjtype when 'r' then 'tables' when 'S' then 'sequences'
                                                when 'f' then 'functions' when 'T' then 'types'
                                                when 'n' then 'schemas' end,
         pg_catalog.format('created by %I in %s', pg_catalog.pg_get_userbyid(d.defaclrole),
                           coalesce(pg_catalog.quote_ident(n.nspname), 'any schema'))
    from pg_catalog.pg_default_acl d
    left join pg_catalog.pg_namespace n on n.oid = d.defaclnamespace,
         pg_catalog.aclexplode(d.defaclacl) as x
   where (n.nspname is null or n.nspname in (select e.nspname from exposed e))
     and (x.grantee = 0
          or pg_catalog.pg_get_userbyid(x.grantee) in (select r.rolname from api_role r))
)
select s.role, s.privilege, s.kind, s.object
  from surface s
 order by s.kind, s.object, s.role, s.privilege;
