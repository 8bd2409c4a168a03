-- Credits: users can read their own balance and ledger but never write them;
-- reserve, refund and spend follow the settle-once rules.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(22);

-- Two users who start with 10 credits each (the signup trigger's starter).
update public.genvault_config set starter_credits = 10;
insert into auth.users (id, email) values
  ('a0000000-0000-4000-8000-000000000001', 'owner@genvault.test'),
  ('b0000000-0000-4000-8000-000000000002', 'other@genvault.test');

-- Direct writes are refused to a signed-in user -------------------------------
set local role authenticated;
set local request.jwt.claims = '{"sub": "a0000000-0000-4000-8000-000000000001", "role": "authenticated"}';

select results_eq($$ select user_id, credits from public.user_credits $$,
  $$ values ('a0000000-0000-4000-8000-000000000001', 10) $$,
  'a user reads exactly their own balance');
select throws_ok($$ update public.user_credits set credits = 1000 $$, '42501', null,
  'a user cannot update a balance');
select throws_ok(
  $$ insert into public.user_credits (user_id, credits) values ('c0000000-0000-4000-8000-000000000003', 99) $$,
  '42501', null, 'a user cannot insert a balance');
select throws_ok($$ delete from public.user_credits $$, '42501', null,
  'a user cannot delete a balance');
select throws_ok(
  $$ insert into public.credit_ledger (user_id, delta, reason)
     values ('a0000000-0000-4000-8000-000000000001', 100, 'grant') $$,
  '42501', null, 'a user cannot write to the ledger');
select throws_ok($$ update public.credit_ledger set delta = 100 $$, '42501', null,
  'a user cannot rewrite the ledger');
select throws_ok($$ delete from public.credit_ledger $$, '42501', null,
  'a user cannot erase the ledger');
select throws_ok($$ select * from public.genvault_config $$, '42501', null,
  'a user cannot read the operator settings');
select throws_ok($$ update public.genvault_config set starter_credits = 1000 $$, '42501', null,
  'a user cannot change the operator settings');
select throws_ok(
  $$ select public.grant_credits('a0000000-0000-4000-8000-000000000001', 100) $$,
  '42501', null, 'a user cannot grant themselves credits');

-- Reserve, retry, refund, spend -------------------------------------------------
select results_eq(
  $$ select status, created, reserved_for is not null from public.reserve_credit('job-1') $$,
  $$ values ('held', true, true) $$,
  'reserve_credit holds a credit for a generation whose id it picks');
select is((select credits from public.user_credits), 9, 'the hold takes one credit');
select results_eq(
  $$ select reservation_id, reserved_for, created from public.reserve_credit('job-1') $$,
  $$ select id, generation_id, false from public.credit_ledger where idempotency_key = 'job-1' $$,
  'a retry with the same key returns the first reservation');
select is((select credits from public.user_credits), 9, 'the retry charges nothing');

reset role;
select id as reservation from public.credit_ledger where idempotency_key = 'job-1' \gset

-- another user cannot refund the owner's reservation
set local role authenticated;
set local request.jwt.claims = '{"sub": "b0000000-0000-4000-8000-000000000002", "role": "authenticated"}';
select throws_ok(format('select public.refund_credit(%L)', :'reservation'), 'P0002', null,
  'another user''s reservation looks missing to refund_credit');

set local request.jwt.claims = '{"sub": "a0000000-0000-4000-8000-000000000001", "role": "authenticated"}';
select is(public.refund_credit(:'reservation'), true, 'the first refund gives the credit back');
select is(public.refund_credit(:'reservation'), false, 'a second refund of the same reservation does nothing');
select is((select credits from public.user_credits), 10, 'the balance is whole again after one refund');
select throws_ok(
  format($$ select public.record_generation(%L, 'a cat', 'a0000000-0000-4000-8000-000000000001/cat.webp', 'test/model') $$,
         :'reservation'),
  '55000', null, 'a refunded reservation cannot be spent');
select is(
  (select sum(delta)::int from public.credit_ledger),
  (select credits from public.user_credits),
  'the balance equals the sum of the ledger');

-- An empty balance refuses a reservation with GV001 ----------------------------
reset role;
select public.grant_credits('a0000000-0000-4000-8000-000000000001', -10) as emptied \gset
set local role authenticated;
select is((select credits from public.user_credits), 0, 'the operator emptied the balance');
select throws_ok(
  $$ select * from public.reserve_credit('job-2') $$,
  'GV001', null, 'no reservation without credits');

reset role;
select * from finish();
rollback;
