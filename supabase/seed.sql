-- =============================================================================
-- genvault: local demo data. `supabase db reset` runs it after the migrations;
-- on plain PostgreSQL, run it after `gen db migrate`. Idempotent.
--
-- One demo user, demo@genvault.local, with a fixed id so that scripts and
-- examples can name it. Its credits are not inserted here: the signup trigger
-- (credits.sql) gives it the starter balance, exactly as for a real signup.
-- For local development only; never run this against a production project.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- The demo user: the columns Supabase Auth and the local stand-in share.
-- -----------------------------------------------------------------------------
insert into auth.users (id, email, raw_app_meta_data, raw_user_meta_data)
values ('d0000000-0000-4000-8000-000000000001', 'demo@genvault.local',
        '{"provider": "email", "providers": ["email"]}', '{"name": "genvault demo"}')
on conflict (id) do nothing;

-- -----------------------------------------------------------------------------
-- Under Supabase Auth, fill in what Auth itself expects of a row it reads: the
-- audience and role, a confirmed email, empty strings rather than NULL in the
-- token columns (Auth cannot read a NULL there), and the local password
-- "genvault-demo". The stand-in auth.users has none of these columns, so this
-- step is skipped there.
-- -----------------------------------------------------------------------------
do $$
begin
  if exists (select from information_schema.columns
              where table_schema = 'auth' and table_name = 'users'
                and column_name = 'encrypted_password')
     and pg_catalog.to_regprocedure('extensions.crypt(text, text)') is not null then
    execute $sql$
      update auth.users
         set instance_id = '00000000-0000-0000-0000-000000000000',
             aud = 'authenticated',
             role = 'authenticated',
             email_confirmed_at = coalesce(email_confirmed_at, now()),
             encrypted_password = extensions.crypt('genvault-demo', extensions.gen_salt('bf')),
             confirmation_token = '',
             recovery_token = '',
             email_change_token_new = '',
             email_change = ''
       where id = 'd0000000-0000-4000-8000-000000000001'
         and encrypted_password is null
    $sql$;
  end if;
end
$$;
