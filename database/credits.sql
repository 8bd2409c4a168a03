-- =============================================================================
-- genvault: credits.
--
-- Every generation costs one credit. A balance row per user, an append-only
-- ledger that explains every change to it, and SECURITY DEFINER functions that
-- are the only way to change either. Users may read their own balance and
-- ledger; no user role may write to them.
--
-- The flow a client follows:
--   reserve_credit(key, generation_id)  -> holds one credit (ledger: reserve, -1)
--   record_generation(...)              -> turns the hold into a spend (ledger: spend, 0)
--   refund_credit(reservation_id)       -> or gives it back (ledger: refund, +1)
-- A reservation is settled exactly once: the ledger's unique `settles` column
-- makes a second spend or refund of the same reservation impossible.
--
-- Invariant: user_credits.credits = sum(credit_ledger.delta) for every user.
--
-- Idempotent: apply it as often as you like.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- Tables
-- -----------------------------------------------------------------------------
create table if not exists public.genvault_config (
  id boolean primary key default true check (id),
  starter_credits integer not null default 10 check (starter_credits >= 0),
  reservation_ttl interval not null default interval '15 minutes'
    check (reservation_ttl > interval '0')
);
comment on table public.genvault_config is
  'One row of operator settings: the credits a new user starts with, and how long '
  'an unsettled reservation may live before the expiry sweep refunds it.';
insert into public.genvault_config (id) values (true) on conflict (id) do nothing;

create table if not exists public.user_credits (
  user_id text primary key,
  credits integer not null default 0 check (credits >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.user_credits is
  'Each user''s credit balance. user_id is auth.users.id as text. Changed only by '
  'the credit functions below; the check keeps it from going negative.';

create table if not exists public.credit_ledger (
  id uuid primary key default gen_random_uuid(),
  user_id text not null references public.user_credits (user_id) on delete cascade,
  delta integer not null,
  reason text not null,
  generation_id uuid,
  idempotency_key text,
  settles uuid unique references public.credit_ledger (id) on delete cascade,
  created_at timestamptz not null default now(),
  constraint credit_ledger_key_unique unique (user_id, idempotency_key),
  constraint credit_ledger_reason_shape check (
    (reason = 'starter' and delta >= 0 and settles is null)
    or (reason = 'grant' and settles is null)
    or (reason = 'reserve' and delta = -1 and settles is null and generation_id is not null)
    or (reason = 'spend' and delta = 0 and settles is not null)
    or (reason = 'refund' and delta = 1 and settles is not null)
  )
);
comment on table public.credit_ledger is
  'Append-only audit trail of every credit change. A reserve row is a reservation; '
  'the spend or refund row that settles it points at it through `settles`, which '
  'is unique, so a reservation is spent or refunded exactly once.';
comment on column public.credit_ledger.generation_id is
  'The generation a reservation was made for (chosen by the client up front, so '
  'that files written before a crash can be found and removed).';
comment on column public.credit_ledger.idempotency_key is
  'Client-chosen key, unique per user: a retried reserve or grant with the same '
  'key returns the first result instead of charging or granting twice.';

-- -----------------------------------------------------------------------------
-- Indexes
-- -----------------------------------------------------------------------------
create index if not exists credit_ledger_user_created_idx
  on public.credit_ledger (user_id, created_at desc);
comment on index public.credit_ledger_user_created_idx is
  'Serves "my recent ledger" and the row-level security filter on user_id.';

create index if not exists credit_ledger_open_reservations_idx
  on public.credit_ledger (created_at)
  where reason = 'reserve';
comment on index public.credit_ledger_open_reservations_idx is
  'Lets the expiry sweep find old reservations without scanning the whole ledger.';

-- -----------------------------------------------------------------------------
-- Functions
-- -----------------------------------------------------------------------------

-- The caller's user id as text, or an error when the request carries no user.
create or replace function public.genvault_require_user() returns text
language plpgsql stable
set search_path = ''
as $$
declare
  uid uuid := auth.uid();
begin
  if uid is null then
    raise exception 'not signed in'
      using errcode = '28000', hint = 'Sign in first: this call acts on your own data.';
  end if;
  return uid::text;
end
$$;
comment on function public.genvault_require_user() is
  'auth.uid() as text, raising SQLSTATE 28000 when the request is anonymous.';

-- Whether the current session acts for the operator rather than for a user:
-- either PostgREST (or genvault) switched to service_role, or it is a direct
-- database session that switched to no API role at all (the SQL editor, psql).
-- It reads the SET ROLE setting, which a SECURITY DEFINER call leaves alone.
create or replace function public.genvault_is_operator() returns boolean
language sql stable
set search_path = ''
as $$
  select case current_setting('role')
           when 'service_role' then true
           when 'none' then session_user not in ('authenticator', 'anon', 'authenticated')
           else false
         end
$$;
comment on function public.genvault_is_operator() is
  'True for service_role requests and for direct operator sessions; false for users.';

-- The generation id is chosen here, never by the caller: an id the caller
-- could pick would let them probe, through a duplicate-key error, whether
-- somebody else's generation with that id exists.
drop function if exists public.reserve_credit(text);
create or replace function public.reserve_credit(
  idempotency_key text
) returns table (reservation_id uuid, status text, reserved_for uuid, created boolean)
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  me text := public.genvault_require_user();
  new_id uuid;
  new_generation uuid := gen_random_uuid();
begin
  if idempotency_key is null or length(idempotency_key) not between 1 and 200 then
    raise exception 'idempotency key must be 1 to 200 characters'
      using errcode = '22023';
  end if;
  if not exists (select from public.user_credits c where c.user_id = me) then
    -- A valid token of an account that has since been deleted.
    raise exception 'this account no longer exists'
      using errcode = '28000', hint = 'Sign in again, or sign up.';
  end if;

  -- Claim the key first. A concurrent call with the same key waits here for the
  -- first to commit, then finds its row.
  insert into public.credit_ledger (user_id, delta, reason, generation_id, idempotency_key)
  values (me, -1, 'reserve', new_generation, reserve_credit.idempotency_key)
  on conflict on constraint credit_ledger_key_unique do nothing
  returning id into new_id;

  if new_id is null then
    -- A retry: report the first reservation and how it was settled, charge nothing.
    return query
      select r.id,
             coalesce(s.reason, 'held'),
             r.generation_id,
             false
        from public.credit_ledger r
        left join public.credit_ledger s on s.settles = r.id
       where r.user_id = me
         and r.idempotency_key = reserve_credit.idempotency_key
         and r.reason = 'reserve';
    if not found then
      -- The key belongs to another kind of entry (an operator's grant for this
      -- user): it holds no credit, so it must not be reported as one.
      raise exception 'idempotency key % is already used by another ledger entry',
        reserve_credit.idempotency_key
        using errcode = '23505', hint = 'Use a new key for each generation.';
    end if;
    return;
  end if;

  -- The row lock on the balance serialises concurrent reservations; the
  -- condition keeps the balance from going below zero.
  update public.user_credits
     set credits = credits - 1, updated_at = now()
   where user_id = me and credits > 0;
  if not found then
    raise exception 'insufficient credits'
      using errcode = 'GV001',
            hint = 'Your credit balance is 0. Ask an operator for more credits.';
  end if;

  return query select new_id, 'held'::text, new_generation, true;
end
$$;
comment on function public.reserve_credit(text) is
  'Holds one credit of the caller for a new generation and picks its id '
  '(reserved_for; created is true). Idempotent per key: a retry returns the first '
  'reservation (status held, spend or refund, and the generation it was made for, '
  'with created false) and charges nothing. '
  'Raises GV001 when the balance is 0.';

create or replace function public.refund_credit(reservation_id uuid) returns boolean
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  me text := public.genvault_require_user();
  owner text;
  refunded uuid;
begin
  select r.user_id into owner
    from public.credit_ledger r
   where r.id = refund_credit.reservation_id and r.reason = 'reserve';
  -- Another user's reservation behaves exactly like a missing one.
  if owner is distinct from me then
    raise exception 'reservation not found' using errcode = 'P0002';
  end if;

  insert into public.credit_ledger (user_id, delta, reason, generation_id, settles)
  select r.user_id, 1, 'refund', r.generation_id, r.id
    from public.credit_ledger r
   where r.id = refund_credit.reservation_id
  on conflict (settles) do nothing
  returning id into refunded;

  if refunded is null then
    return false;  -- already spent or refunded
  end if;
  update public.user_credits
     set credits = credits + 1, updated_at = now()
   where user_id = me;
  return true;
end
$$;
comment on function public.refund_credit(uuid) is
  'Gives back the credit held by one of the caller''s reservations. Returns true '
  'when this call refunded it, false when it was already spent or refunded.';

create or replace function public.grant_credits(
  target_user text,
  amount integer,
  idempotency_key text default null
) returns integer
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  balance integer;
  entry uuid;
begin
  if amount is null or amount = 0 then
    raise exception 'amount must be a non-zero whole number' using errcode = '22023';
  end if;
  select c.credits into balance
    from public.user_credits c
   where c.user_id = target_user
     for update;
  if not found then
    raise exception 'no such user: %', target_user using errcode = 'P0002';
  end if;

  insert into public.credit_ledger (user_id, delta, reason, idempotency_key)
  values (target_user, amount, 'grant', grant_credits.idempotency_key)
  on conflict on constraint credit_ledger_key_unique do nothing
  returning id into entry;
  if entry is null then
    return balance;  -- this key was granted before
  end if;

  if balance + amount < 0 then
    raise exception 'cannot remove % credits: the balance is %', -amount, balance
      using errcode = '22023';
  end if;
  update public.user_credits
     set credits = credits + amount, updated_at = now()
   where user_id = target_user
  returning credits into balance;
  return balance;
end
$$;
comment on function public.grant_credits(text, integer, text) is
  'Operators only (service_role): adds (or, with a negative amount, removes) credits '
  'and returns the new balance. A repeated idempotency key grants once.';

create or replace function public.expire_reservations(older_than interval default null)
returns table (reservation_id uuid, user_id text, generation_id uuid)
language plpgsql volatile security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  operator boolean := public.genvault_is_operator();
  me text := case when operator then null else public.genvault_require_user() end;
  ttl interval;
begin
  ttl := coalesce(older_than, (select c.reservation_ttl from public.genvault_config c));
  if ttl < interval '0' then
    raise exception 'older_than must not be negative' using errcode = '22023';
  end if;

  return query
  with stale as (
    select r.id, r.user_id, r.generation_id
      from public.credit_ledger r
     where r.reason = 'reserve'
       and r.created_at <= now() - ttl
       and (operator or r.user_id = me)
       and not exists (select from public.credit_ledger s where s.settles = r.id)
     for update of r skip locked
  ), refunds as (
    insert into public.credit_ledger (user_id, delta, reason, generation_id, settles)
    select s.user_id, 1, 'refund', s.generation_id, s.id from stale s
    on conflict (settles) do nothing
    returning credit_ledger.user_id, credit_ledger.generation_id, credit_ledger.settles
  ), balances as (
    update public.user_credits u
       set credits = u.credits + n.cnt, updated_at = now()
      from (select f.user_id, count(*)::integer as cnt from refunds f group by f.user_id) n
     where u.user_id = n.user_id
  )
  select f.settles, f.user_id, f.generation_id from refunds f;
end
$$;
comment on function public.expire_reservations(interval) is
  'The expiry sweep: refunds reservations older than older_than (default: '
  'genvault_config.reservation_ttl) that were never settled, as left by a crashed '
  'client. A user sweeps their own; service_role sweeps everyone''s. Returns what '
  'it refunded, so the caller can remove files written for those generations.';

create or replace function public.handle_new_auth_user() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  starter integer := coalesce((select c.starter_credits from public.genvault_config c), 0);
begin
  insert into public.user_credits (user_id, credits)
  values (new.id::text, starter)
  on conflict (user_id) do nothing;
  if found and starter > 0 then
    insert into public.credit_ledger (user_id, delta, reason)
    values (new.id::text, starter, 'starter');
  end if;
  return new;
end
$$;
comment on function public.handle_new_auth_user() is
  'Trigger: gives every new auth user a credits row with the starter balance.';

create or replace function public.handle_deleted_auth_user() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  -- Cascades to the ledger and to the user's generations.
  delete from public.user_credits where user_id = old.id::text;
  return old;
end
$$;
comment on function public.handle_deleted_auth_user() is
  'Trigger: removing an auth user removes their credits, ledger and generations.';

create or replace function public.my_credits() returns integer
language sql stable
set search_path = ''
as $$
  select coalesce(
    (select c.credits from public.user_credits c
      where c.user_id = public.genvault_require_user()),
    0)
$$;
comment on function public.my_credits() is
  'The caller''s credit balance (0 when they have no credits row yet).';

create or replace function public.my_ledger(max_rows integer default 20, since timestamptz default null)
returns setof public.credit_ledger
language plpgsql stable
set search_path = ''
as $$
declare
  me text := public.genvault_require_user();
begin
  if max_rows is null or max_rows not between 1 and 1000 then
    raise exception 'max_rows must be between 1 and 1000' using errcode = '22023';
  end if;
  return query
    select l.*
      from public.credit_ledger l
     where l.user_id = me
       and (since is null or l.created_at >= since)
     order by l.created_at desc, l.id desc
     limit max_rows;
end
$$;
comment on function public.my_ledger(integer, timestamptz) is
  'The caller''s most recent credit changes, newest first.';

-- Every genvault table with an updated_at column keeps it with this trigger.
create or replace function public.genvault_touch_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;
comment on function public.genvault_touch_updated_at() is
  'Trigger: keeps updated_at equal to the time of the last change.';

-- -----------------------------------------------------------------------------
-- Triggers
-- -----------------------------------------------------------------------------
create or replace trigger user_credits_touch_updated_at
  before update on public.user_credits
  for each row execute function public.genvault_touch_updated_at();

create or replace trigger genvault_on_auth_user_created
  after insert on auth.users
  for each row execute function public.handle_new_auth_user();

create or replace trigger genvault_on_auth_user_deleted
  after delete on auth.users
  for each row execute function public.handle_deleted_auth_user();

-- Users who signed up before this migration get their credits row (and the
-- ledger entry that explains it) now.
with added as (
  insert into public.user_credits (user_id, credits)
  select u.id::text, c.starter_credits
    from auth.users u cross join public.genvault_config c
  on conflict (user_id) do nothing
  returning user_id, credits
)
insert into public.credit_ledger (user_id, delta, reason)
select a.user_id, a.credits, 'starter' from added a where a.credits > 0;

-- -----------------------------------------------------------------------------
-- Row Level Security
-- -----------------------------------------------------------------------------
alter table public.genvault_config enable row level security;
alter table public.user_credits enable row level security;
alter table public.credit_ledger enable row level security;

-- genvault_config has no policy on purpose: only service_role (which bypasses
-- RLS) and the definer functions read it.

drop policy if exists "Users can read their own credits" on public.user_credits;
create policy "Users can read their own credits"
  on public.user_credits for select
  to authenticated
  using ((select auth.uid())::text = user_id);
comment on policy "Users can read their own credits" on public.user_credits is
  'A signed-in user sees their own balance row and nobody else''s.';

drop policy if exists "Users can read their own ledger" on public.credit_ledger;
create policy "Users can read their own ledger"
  on public.credit_ledger for select
  to authenticated
  using ((select auth.uid())::text = user_id);
comment on policy "Users can read their own ledger" on public.credit_ledger is
  'A signed-in user sees the history of their own balance and nobody else''s.';

-- -----------------------------------------------------------------------------
-- Grants: read-only for users, nothing for anon, functions granted one by one.
-- -----------------------------------------------------------------------------
revoke all on public.genvault_config, public.user_credits, public.credit_ledger
  from public, anon, authenticated;
grant select on public.user_credits, public.credit_ledger to authenticated;
grant all on public.genvault_config, public.user_credits, public.credit_ledger to service_role;

revoke execute on function
  public.genvault_is_operator(),
  public.genvault_require_user(),
  public.reserve_credit(text),
  public.refund_credit(uuid),
  public.my_credits(),
  public.my_ledger(integer, timestamptz),
  public.grant_credits(text, integer, text),
  public.expire_reservations(interval),
  public.handle_new_auth_user(),
  public.handle_deleted_auth_user(),
  public.genvault_touch_updated_at()
  from public, anon, authenticated, service_role;

grant execute on function public.genvault_is_operator() to authenticated, service_role;
grant execute on function public.genvault_require_user() to authenticated;
grant execute on function public.reserve_credit(text) to authenticated;
grant execute on function public.refund_credit(uuid) to authenticated;
grant execute on function public.my_credits() to authenticated;
grant execute on function public.my_ledger(integer, timestamptz) to authenticated;
grant execute on function public.expire_reservations(interval) to authenticated, service_role;
grant execute on function public.grant_credits(text, integer, text) to service_role;
