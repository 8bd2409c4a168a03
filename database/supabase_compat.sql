-- =============================================================================
-- genvault: the parts of a Supabase database that plain PostgreSQL lacks.
--
-- Apply this ONLY to a plain PostgreSQL server (the embedded default, a test
-- server, a developer's own cluster). Never run it against a Supabase project:
-- Supabase already has these roles and the real auth schema. `gen db migrate`
-- decides for you: it applies this file only where it finds no Supabase auth
-- schema.
--
-- It recreates what genvault's SQL relies on, the way Supabase defines it:
--   * the roles anon, authenticated, service_role (BYPASSRLS) and authenticator;
--   * the default privileges Supabase gives those roles on the public schema
--     (which is why every table needs Row Level Security);
--   * schema auth with a users table and auth.uid(), auth.role(), auth.email()
--     and auth.jwt(), which read the request.jwt.claims setting that PostgREST
--     sets per request;
--   * schema extensions, where Supabase installs extensions;
--   * schema storage with Supabase Storage's tables storage.buckets and
--     storage.objects (row level security on, deletes refused outside the
--     Storage API) and its path helpers storage.foldername(), storage.filename()
--     and storage.extension(), so that storage.sql and storage_sharing.sql apply
--     here too and tests can run Storage's statements against the policies;
--   * the per-role statement timeouts of a Supabase project (anon 3 s,
--     authenticated 8 s), which PostgREST applies on each request.
--
-- Idempotent, and safe for several databases of one cluster: roles are
-- cluster-wide, so each is created only where it is missing.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- Roles
-- -----------------------------------------------------------------------------
do $$
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
end
$$;

-- PostgREST logs in as authenticator and switches to one of these per request.
grant anon, authenticated, service_role to authenticator;

-- -----------------------------------------------------------------------------
-- Schemas and Supabase's default privileges
-- -----------------------------------------------------------------------------
create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role;

grant usage on schema public to anon, authenticated, service_role;

-- Supabase grants every API role full rights on new objects in public; Row Level
-- Security and explicit revokes are what keep data private. Mirror that here so
-- local tests meet the same defaults as a hosted project.
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;

create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

-- -----------------------------------------------------------------------------
-- auth.users: the columns genvault and its tests use of Supabase Auth's table.
-- -----------------------------------------------------------------------------
create table if not exists auth.users (
  id uuid primary key default gen_random_uuid(),
  email text unique,
  raw_app_meta_data jsonb not null default '{}'::jsonb,
  raw_user_meta_data jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table auth.users is
  'Local stand-in for Supabase Auth''s users table (plain PostgreSQL only).';

-- -----------------------------------------------------------------------------
-- auth.* helpers, defined as Supabase defines them: the legacy per-claim
-- setting wins when set and non-empty, else the claims JSON is read.
-- -----------------------------------------------------------------------------
create or replace function auth.jwt() returns jsonb
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;
comment on function auth.jwt() is 'The verified JWT claims of the current request, as jsonb.';

create or replace function auth.uid() returns uuid
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'
  )::uuid
$$;
comment on function auth.uid() is 'The sub claim of the current request as a uuid; NULL when anonymous.';

create or replace function auth.role() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'
  )::text
$$;
comment on function auth.role() is 'The role claim of the current request.';

create or replace function auth.email() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email'
  )::text
$$;
comment on function auth.email() is 'The email claim of the current request.';

grant execute on function auth.jwt(), auth.uid(), auth.role(), auth.email()
  to anon, authenticated, service_role;
grant select on auth.users to service_role;

-- -----------------------------------------------------------------------------
-- Statement timeouts per API role, as a Supabase project sets them. SET ROLE
-- does not apply a role's settings: PostgREST reads them and sets them itself
-- in each request's transaction (so do the tests' stand-in of the API).
-- -----------------------------------------------------------------------------
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';

-- -----------------------------------------------------------------------------
-- storage: what Supabase Storage keeps in the database. The Storage API runs
-- every read and write of an object as the caller (role and request.jwt.claims
-- local to one transaction), so the policies on storage.objects decide; the
-- bytes live elsewhere. Column names and helpers follow Supabase Storage's own
-- migrations, reduced to what genvault and its tests use.
-- -----------------------------------------------------------------------------
create schema if not exists storage;
grant usage on schema storage to anon, authenticated, service_role;

create table if not exists storage.buckets (
  id text primary key,
  name text not null,
  owner uuid,
  owner_id text,
  public boolean default false,
  avif_autodetection boolean default false,
  file_size_limit bigint,
  allowed_mime_types text[],
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);
create unique index if not exists bname on storage.buckets (name);
comment on table storage.buckets is
  'Local stand-in for Supabase Storage''s buckets (plain PostgreSQL only).';

create table if not exists storage.objects (
  id uuid primary key default gen_random_uuid(),
  bucket_id text references storage.buckets (id),
  name text,
  owner uuid,
  owner_id text,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  last_accessed_at timestamptz default now(),
  metadata jsonb,
  user_metadata jsonb,
  version text,
  path_tokens text[] generated always as (string_to_array(name, '/')) stored
);
create unique index if not exists bucketid_objname on storage.objects (bucket_id, name);
create index if not exists name_prefix_search on storage.objects (name text_pattern_ops);
comment on table storage.objects is
  'Local stand-in for Supabase Storage''s objects: one row per stored file, its '
  'bytes kept outside the database (plain PostgreSQL only).';
comment on column storage.objects.owner is 'Deprecated in Supabase Storage: use owner_id.';

alter table storage.buckets enable row level security;
alter table storage.objects enable row level security;

-- Storage grants the API roles every right on both tables; policies decide.
grant all on storage.buckets, storage.objects to anon, authenticated, service_role;

-- "a/b/c.png" -> {a,b}: the folders of an object's name.
create or replace function storage.foldername(name text) returns text[]
language sql immutable
as $$
  select (string_to_array(name, '/'))[1:cardinality(string_to_array(name, '/')) - 1]
$$;

-- "a/b/c.png" -> "c.png".
create or replace function storage.filename(name text) returns text
language sql immutable
as $$
  select (string_to_array(name, '/'))[cardinality(string_to_array(name, '/'))]
$$;

-- "a/b/c.png" -> "png" (the whole file name when it has no dot).
create or replace function storage.extension(name text) returns text
language sql immutable
as $$
  select reverse(split_part(reverse(storage.filename(name)), '.', 1))
$$;

grant execute on function storage.foldername(text), storage.filename(text),
  storage.extension(text) to anon, authenticated, service_role;

create or replace function storage.update_updated_at_column() returns trigger
language plpgsql
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

drop trigger if exists update_objects_updated_at on storage.objects;
create trigger update_objects_updated_at
  before update on storage.objects
  for each row execute function storage.update_updated_at_column();

-- Files go through the Storage API, which removes the bytes with the row and
-- marks its own transactions with storage.allow_delete_query. A DELETE from
-- anywhere else would leave the bytes behind with nothing pointing at them.
create or replace function storage.protect_delete() returns trigger
language plpgsql
as $$
begin
  if coalesce(current_setting('storage.allow_delete_query', true), '') <> 'true' then
    raise exception 'rows of storage.% are deleted through the Storage API only', tg_table_name
      using hint = 'Delete files with the Storage API, which removes their bytes too.',
            errcode = '42501';
  end if;
  return null;
end
$$;

drop trigger if exists protect_buckets_delete on storage.buckets;
create trigger protect_buckets_delete
  before delete on storage.buckets
  for each statement execute function storage.protect_delete();

drop trigger if exists protect_objects_delete on storage.objects;
create trigger protect_objects_delete
  before delete on storage.objects
  for each statement execute function storage.protect_delete();

-- -----------------------------------------------------------------------------
-- Local users (`gen login --local NAME`). On Supabase, Auth creates users; here
-- the database owner does, through this one function, so that the rule for a
-- local name and the address it gets live in SQL. Creating the row fires the
-- same trigger as a Supabase sign-up (starter credits, credits.sql). Run by the
-- owner's own connection: no API role may call it.
-- -----------------------------------------------------------------------------
create or replace function auth.genvault_local_user(name text)
returns table (user_id uuid, user_email text)
language plpgsql
set search_path = ''
as $$
begin
  if name is null or name !~ '^[a-z0-9][a-z0-9._-]{0,62}$' then
    raise exception '% is not a usable local user name', coalesce(quote_literal(name), 'NULL')
      using errcode = '22023',
            hint = 'use lower-case letters, digits, ''.'', ''-'' and ''_'' (up to 63 characters)';
  end if;
  -- The no-op update makes RETURNING give the id of a name used before.
  return query
    insert into auth.users as u (email)
    values (name || '@local.genvault')
    on conflict (email) do update set email = excluded.email
    returning u.id, u.email;
end
$$;
comment on function auth.genvault_local_user(text) is
  'Signs up (or finds) the local user NAME as NAME@local.genvault; owner only, plain PostgreSQL only.';

revoke all on function auth.genvault_local_user(text) from public, anon, authenticated, service_role;
