-- Operator functions: only service_role (and direct operator sessions) may run
-- them; signed-in users and anon are refused with 42501.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(18);

-- A signed-in user ----------------------------------------------------------------
set local role authenticated;
set local request.jwt.claims = '{"sub": "a0000000-0000-4000-8000-000000000001", "role": "authenticated"}';

select throws_ok($$ select public.admin_find_user('owner@genvault.test') $$, '42501', null,
  'authenticated cannot run admin_find_user');
select throws_ok($$ select * from public.admin_images_per_user() $$, '42501', null,
  'authenticated cannot run admin_images_per_user');
select throws_ok($$ select * from public.admin_popular_prompts() $$, '42501', null,
  'authenticated cannot run admin_popular_prompts');
select throws_ok($$ select * from public.admin_storage_estimate() $$, '42501', null,
  'authenticated cannot run admin_storage_estimate');
select throws_ok($$ select * from public.admin_trends() $$, '42501', null,
  'authenticated cannot run admin_trends');
select throws_ok($$ select * from public.admin_purge_older_than('30 days') $$, '42501', null,
  'authenticated cannot run admin_purge_older_than');

-- anon ------------------------------------------------------------------------------
reset role;
set local role anon;
set local request.jwt.claims = '{"role": "anon"}';

select throws_ok($$ select public.admin_find_user('owner@genvault.test') $$, '42501', null,
  'anon cannot run admin_find_user');
select throws_ok($$ select * from public.admin_images_per_user() $$, '42501', null,
  'anon cannot run admin_images_per_user');
select throws_ok($$ select * from public.admin_popular_prompts() $$, '42501', null,
  'anon cannot run admin_popular_prompts');
select throws_ok($$ select * from public.admin_storage_estimate() $$, '42501', null,
  'anon cannot run admin_storage_estimate');
select throws_ok($$ select * from public.admin_trends() $$, '42501', null,
  'anon cannot run admin_trends');
select throws_ok($$ select * from public.admin_purge_older_than('30 days') $$, '42501', null,
  'anon cannot run admin_purge_older_than');

-- service_role ------------------------------------------------------------------------
reset role;
set local role service_role;
set local request.jwt.claims = '{"role": "service_role"}';

select lives_ok($$ select public.admin_find_user('owner@genvault.test') $$,
  'service_role runs admin_find_user');
select lives_ok($$ select * from public.admin_images_per_user() $$,
  'service_role runs admin_images_per_user');
select lives_ok($$ select * from public.admin_popular_prompts() $$,
  'service_role runs admin_popular_prompts');
select lives_ok($$ select * from public.admin_storage_estimate() $$,
  'service_role runs admin_storage_estimate');
select lives_ok($$ select * from public.admin_trends('week', 4) $$,
  'service_role runs admin_trends');
select lives_ok($$ select * from public.admin_purge_older_than('30 days', true) $$,
  'service_role runs admin_purge_older_than as a dry run');

reset role;
select * from finish();
rollback;
