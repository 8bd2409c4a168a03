-- Who may read and change rows of user_generations: the owner, another
-- signed-in user, anon and service_role, for select, insert, update, delete.
-- Each role is taken the way PostgREST takes it: a transaction-local role
-- and request.jwt.claims.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(19);

-- Two users (the signup trigger gives them credits rows) and one row each.
insert into auth.users (id, email) values
  ('a0000000-0000-4000-8000-000000000001', 'owner@genvault.test'),
  ('b0000000-0000-4000-8000-000000000002', 'other@genvault.test');
insert into public.user_generations (id, user_id, prompt, image_url) values
  ('a1000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000001',
   'original prompt', 'a0000000-0000-4000-8000-000000000001/a.webp'),
  ('b1000000-0000-4000-8000-000000000002', 'b0000000-0000-4000-8000-000000000002',
   'other prompt', 'b0000000-0000-4000-8000-000000000002/b.webp');

-- anon: no grant at all, so every command is refused ---------------------------
set local role anon;
set local request.jwt.claims = '{"role": "anon"}';

select throws_ok($$ select * from public.user_generations $$, '42501', null,
  'anon cannot select');
select throws_ok(
  $$ insert into public.user_generations (user_id, prompt, image_url)
     values ('a0000000-0000-4000-8000-000000000001', 'p', 'a0000000-0000-4000-8000-000000000001/x.webp') $$,
  '42501', null, 'anon cannot insert');
select throws_ok($$ update public.user_generations set prompt = 'x' $$, '42501', null,
  'anon cannot update');
select throws_ok($$ delete from public.user_generations $$, '42501', null,
  'anon cannot delete');

-- another signed-in user: the owner's row is invisible and untouchable ---------
reset role;
set local role authenticated;
set local request.jwt.claims = '{"sub": "b0000000-0000-4000-8000-000000000002", "role": "authenticated"}';

select is_empty(
  $$ select id from public.user_generations where user_id = 'a0000000-0000-4000-8000-000000000001' $$,
  'another user sees none of the owner''s rows');
select throws_ok(
  $$ insert into public.user_generations (user_id, prompt, image_url)
     values ('a0000000-0000-4000-8000-000000000001', 'p', 'a0000000-0000-4000-8000-000000000001/x.webp') $$,
  '42501', null, 'another user cannot insert a row under the owner''s user_id');
select throws_ok(
  $$ update public.user_generations set prompt = 'hijacked'
      where id = 'a1000000-0000-4000-8000-000000000001' $$,
  '42501', null, 'another user cannot update at all');
select is_empty(
  $$ select * from public.delete_generations(array['a1000000-0000-4000-8000-000000000001']::uuid[]) $$,
  'another user''s delete_generations of the owner''s row deletes nothing');

reset role;
select is((select prompt from public.user_generations where id = 'a1000000-0000-4000-8000-000000000001'),
  'original prompt', 'the owner''s row is intact after the other user''s attempts');

-- the owner: reads their own rows, writes only through the functions ---------
set local role authenticated;
set local request.jwt.claims = '{"sub": "a0000000-0000-4000-8000-000000000001", "role": "authenticated"}';

select results_eq(
  $$ select id from public.user_generations $$,
  $$ values ('a1000000-0000-4000-8000-000000000001'::uuid) $$,
  'the owner sees exactly their own row');
select throws_ok(
  $$ insert into public.user_generations (user_id, prompt, image_url)
     values ('a0000000-0000-4000-8000-000000000001', 'free', 'a0000000-0000-4000-8000-000000000001/c.webp') $$,
  '42501', null, 'the owner cannot insert a row without spending a credit');
select throws_ok(
  $$ update public.user_generations set prompt = 'edited'
      where id = 'a1000000-0000-4000-8000-000000000001' $$,
  '42501', null, 'the owner cannot rewrite what was made');
select throws_ok(
  $$ delete from public.user_generations where id = 'a1000000-0000-4000-8000-000000000001' $$,
  '42501', null, 'the owner cannot delete directly');
select results_eq(
  $$ select * from public.star_generations(array['a1000000-0000-4000-8000-000000000001']::uuid[]) $$,
  $$ values ('a1000000-0000-4000-8000-000000000001'::uuid) $$,
  'the owner stars their row through star_generations');
select results_eq(
  $$ select id from public.delete_generations(array['a1000000-0000-4000-8000-000000000001']::uuid[]) $$,
  $$ values ('a1000000-0000-4000-8000-000000000001'::uuid) $$,
  'the owner deletes their row through delete_generations');

-- service_role bypasses RLS, but provenance is frozen for everyone ------------
reset role;
set local role service_role;
set local request.jwt.claims = '{"role": "service_role"}';

select results_eq(
  $$ select count(*)::int from public.user_generations $$,
  $$ values (1) $$,
  'service_role sees every user''s rows');
select lives_ok(
  $$ insert into public.user_generations (user_id, prompt, image_url)
     values ('b0000000-0000-4000-8000-000000000002', 'by operator', 'b0000000-0000-4000-8000-000000000002/d.webp') $$,
  'service_role can insert for any user');
select throws_ok(
  $$ update public.user_generations set prompt = 'moderated'
      where id = 'b1000000-0000-4000-8000-000000000002' $$,
  '42501', null, 'service_role cannot rewrite what was made either');
select results_eq(
  $$ delete from public.user_generations
      where id = 'b1000000-0000-4000-8000-000000000002' returning id $$,
  $$ values ('b1000000-0000-4000-8000-000000000002'::uuid) $$,
  'service_role can delete any user''s row');

reset role;
select * from finish();
rollback;
