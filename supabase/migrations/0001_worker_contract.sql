-- The worker's database contract. The Python worker changes sessions and credits ONLY through the
-- wearon_* functions below (called over PostgREST RPC with the service-role key). The Next.js API
-- creates sessions and deducts credits; wearon_open_session mirrors that for tests and demos.
--
-- Money rule: a failed generation refunds exactly one credit, at most once per session. The
-- credit_refunds ledger's primary key (channel, session_id) is what makes that true, whoever calls
-- wearon_fail_and_refund and however often; the row lock serialises concurrent callers.
--
-- Safe to run again: tables and indexes are created if missing, functions are replaced. Objects go
-- in the current schema (`public` on Supabase); each function keeps the search_path it was created
-- with, so a caller's search_path cannot redirect it to other tables.

create table if not exists generation_sessions (
    id            uuid primary key,
    user_id       text not null,
    status        text not null default 'queued'
                  check (status in ('queued', 'processing', 'completed', 'failed')),
    prompt        text,
    result_url    text,
    error_message text,
    claim_token   text,
    attempts      integer not null default 0,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now()
);

create table if not exists store_generation_sessions (
    id            uuid primary key,
    store_id      text not null,
    status        text not null default 'queued'
                  check (status in ('queued', 'processing', 'completed', 'failed')),
    prompt        text,
    result_url    text,
    error_message text,
    claim_token   text,
    attempts      integer not null default 0,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now()
);

-- Where the session tables already exist (created by the Next.js app), add what the worker needs.
alter table generation_sessions add column if not exists claim_token text;
alter table generation_sessions add column if not exists attempts integer not null default 0;
alter table store_generation_sessions add column if not exists claim_token text;
alter table store_generation_sessions add column if not exists attempts integer not null default 0;

-- For the sweep. Partial, because finished sessions (nearly all rows) are never swept.
create index if not exists generation_sessions_open_idx
    on generation_sessions (updated_at) where status in ('queued', 'processing');
create index if not exists store_generation_sessions_open_idx
    on store_generation_sessions (updated_at) where status in ('queued', 'processing');

create table if not exists user_credits (
    user_id text primary key,
    balance integer not null default 0 check (balance >= 0)
);

create table if not exists store_credits (
    store_id text primary key,
    balance  integer not null default 0 check (balance >= 0)
);

create table if not exists credit_refunds (
    channel    text not null check (channel in ('b2c', 'b2b')),
    session_id uuid not null,
    owner_id   text not null,
    amount     integer not null default 1 check (amount = 1),
    reason     text,
    created_at timestamptz not null default now(),
    primary key (channel, session_id)
);

-- Supabase exposes every table in `public` to the anon and authenticated roles unless row level
-- security is on; with it on and no policy here, only the service role (which bypasses RLS) and
-- the functions below touch these rows. The Next.js app adds its own read policies.
alter table generation_sessions enable row level security;
alter table store_generation_sessions enable row level security;
alter table user_credits enable row level security;
alter table store_credits enable row level security;
alter table credit_refunds enable row level security;

-- Which table a channel's sessions live in; anything else is a caller's bug.
create or replace function wearon_session_table(p_channel text) returns text
language plpgsql immutable set search_path from current as $$
begin
    case p_channel
        when 'b2c' then return 'generation_sessions';
        when 'b2b' then return 'store_generation_sessions';
        else raise exception 'unknown channel %', p_channel using errcode = '22023';
    end case;
end $$;

create or replace function wearon_owner_column(p_channel text) returns text
language plpgsql immutable set search_path from current as $$
begin
    perform wearon_session_table(p_channel);  -- rejects an unknown channel
    return case p_channel when 'b2b' then 'store_id' else 'user_id' end;
end $$;

-- queued -> processing under p_token; a redelivered message (same token) resumes its own claim.
-- Returns 'claimed', 'busy' (processing under another token), 'finished' or 'missing'.
create or replace function wearon_claim_session(p_channel text, p_session_id uuid, p_token text)
returns text language plpgsql set search_path from current as $$
declare
    v_status text;
    v_token  text;
begin
    execute format('select status, claim_token from %I where id = $1 for update',
                   wearon_session_table(p_channel))
        into v_status, v_token using p_session_id;
    if v_status is null then
        return 'missing';
    elsif v_status in ('completed', 'failed') then
        return 'finished';
    elsif v_status = 'processing' and v_token is distinct from p_token then
        return 'busy';
    end if;
    execute format('update %I set status = ''processing'', claim_token = $2, attempts = attempts + 1,
                    updated_at = now() where id = $1', wearon_session_table(p_channel))
        using p_session_id, p_token;
    return 'claimed';
end $$;

-- processing -> queued while our retry waits. The token is kept, but a queued row is claimable by
-- any message, so this only tells a user-facing status that nobody is working on it right now.
create or replace function wearon_requeue_session(p_channel text, p_session_id uuid, p_token text)
returns boolean language plpgsql set search_path from current as $$
declare
    v_count integer;
begin
    execute format('update %I set status = ''queued'', updated_at = now()
                    where id = $1 and status = ''processing'' and claim_token = $2',
                   wearon_session_table(p_channel))
        using p_session_id, p_token;
    get diagnostics v_count = row_count;
    return v_count = 1;
end $$;

-- processing -> completed, only under our claim.
create or replace function wearon_complete_session(
    p_channel text, p_session_id uuid, p_token text, p_result_url text)
returns boolean language plpgsql set search_path from current as $$
declare
    v_count integer;
begin
    execute format('update %I set status = ''completed'', result_url = $3, error_message = null,
                    updated_at = now()
                    where id = $1 and status = ''processing'' and claim_token = $2',
                   wearon_session_table(p_channel))
        using p_session_id, p_token, p_result_url;
    get diagnostics v_count = row_count;
    return v_count = 1;
end $$;

-- queued|processing -> failed, and one credit back to the owner, in this one transaction, at most
-- once per session. True only for the call that refunded.
create or replace function wearon_fail_and_refund(p_channel text, p_session_id uuid, p_reason text)
returns boolean language plpgsql set search_path from current as $$
declare
    v_owner    text;
    v_status   text;
    v_refunded integer;
begin
    -- The row lock makes a concurrent caller wait here, then see 'failed' and return false.
    execute format('select %I, status from %I where id = $1 for update',
                   wearon_owner_column(p_channel), wearon_session_table(p_channel))
        into v_owner, v_status using p_session_id;
    if v_status is null or v_status not in ('queued', 'processing') then
        return false;
    end if;
    execute format('update %I set status = ''failed'', error_message = $2, updated_at = now()
                    where id = $1', wearon_session_table(p_channel))
        using p_session_id, p_reason;
    -- The ledger is the last word: even if the session were reopened by hand, no second refund.
    insert into credit_refunds (channel, session_id, owner_id, reason)
        values (p_channel, p_session_id, v_owner, p_reason)
        on conflict do nothing;
    get diagnostics v_refunded = row_count;
    if v_refunded = 0 then
        return false;
    end if;
    if p_channel = 'b2b' then
        insert into store_credits as c (store_id, balance) values (v_owner, 1)
            on conflict (store_id) do update set balance = c.balance + 1;
    else
        insert into user_credits as c (user_id, balance) values (v_owner, 1)
            on conflict (user_id) do update set balance = c.balance + 1;
    end if;
    return true;
end $$;

-- fail_and_refund every session queued|processing for longer than p_older_than_s. SKIP LOCKED:
-- never wait on a worker that holds a row; it is alive, and the next sweep will see the row again.
create or replace function wearon_sweep_stuck(p_older_than_s integer, p_reason text)
returns integer language plpgsql set search_path from current as $$
declare
    v_channel text;
    v_id      uuid;
    v_count   integer := 0;
begin
    foreach v_channel in array array['b2c', 'b2b'] loop
        for v_id in execute format(
            'select id from %I where status in (''queued'', ''processing'')
             and updated_at < now() - make_interval(secs => $1) for update skip locked',
            wearon_session_table(v_channel)) using p_older_than_s
        loop
            if wearon_fail_and_refund(v_channel, v_id, p_reason) then
                v_count := v_count + 1;
            end if;
        end loop;
    end loop;
    return v_count;
end $$;

-- NOT called by the worker: what the Next.js API does before pushing a task (deduct one credit,
-- open a queued session), in one transaction. For tests and local demos.
create or replace function wearon_open_session(
    p_channel text, p_session_id uuid, p_owner text, p_prompt text)
returns boolean language plpgsql set search_path from current as $$
declare
    v_count integer;
begin
    execute format('update %I set balance = balance - 1 where %I = $1 and balance >= 1',
                   case p_channel when 'b2b' then 'store_credits' else 'user_credits' end,
                   wearon_owner_column(p_channel))
        using p_owner;
    get diagnostics v_count = row_count;
    if v_count = 0 then
        return false;
    end if;
    execute format('insert into %I (id, %I, prompt) values ($1, $2, $3)',
                   wearon_session_table(p_channel), wearon_owner_column(p_channel))
        using p_session_id, p_owner, p_prompt;
    return true;
end $$;

-- Functions are executable by PUBLIC by default, and Supabase also grants anon and authenticated
-- on everything in `public`: an anonymous caller could fail sessions or spend credits. Only the
-- service role (the worker, the Next.js server) may call them. The roles exist only on Supabase.
do $$
declare
    v_function regprocedure;
    v_role     text;
begin
    for v_function in
        select p.oid::regprocedure from pg_proc p
        where p.pronamespace = current_schema()::regnamespace and p.proname like 'wearon\_%'
    loop
        execute format('revoke all on function %s from public', v_function);
        foreach v_role in array array['anon', 'authenticated'] loop
            if exists (select 1 from pg_roles where rolname = v_role) then
                execute format('revoke all on function %s from %I', v_function, v_role);
            end if;
        end loop;
        if exists (select 1 from pg_roles where rolname = 'service_role') then
            execute format('grant execute on function %s to service_role', v_function);
        end if;
    end loop;
end $$;
