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
--   * schema extensions, where Supabase installs extensions.
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
