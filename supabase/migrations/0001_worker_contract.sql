-- The worker's database contract, applied to the app's existing Supabase database.
--
-- The app owns its tables and its money: the sessions (`generation_sessions` for b2c,
-- `store_generation_sessions` for b2b), the credit balances, and `refund_credits`. This migration
-- creates no credit table and alters none of the app's tables. The worker owns only
--
--   wearon_session_claims  which Dramatiq message holds a session, and how many attempts it took
--   wearon_refunds         the refund ledger: its primary key (channel, session_id) makes a refund
--                          at most once, whoever calls and however often
--
-- and the wearon_* functions below, its only way into the database (as service_role, over
-- PostgREST RPC). Of the app's session rows it reads id, the owner id and status, and writes only
-- status, result_url, error_message and updated_at (the README's "The app's database").
--
-- Safe to run again. On a database that lacks what the functions rely on, it stops before
-- creating anything, with one line naming what is missing.
--
-- Every function runs with an empty search_path and names every object by its schema, so a
-- caller's search_path (or an object a role could create elsewhere) cannot redirect it.

-- What the app's database lacks for the worker, running as p_role: one line per gap, none when
-- it has all. The migration stops on it just below; `wearon_contract_gaps` asks it again, with our
-- own grants, each time a worker process starts.
create or replace function public.wearon_app_gaps(p_role text) returns text[]
language plpgsql stable set search_path = '' as $$
declare
    v_missing text[] := array[]::text[];
    v_need    record;
    v_type    text;
    v_refund  regprocedure := to_regprocedure('public.refund_credits(uuid, uuid, integer)');
    v_table   text;
begin
    for v_need in
        select * from (values
            ('generation_sessions', 'id', 'uuid'), ('generation_sessions', 'user_id', 'uuid'),
            ('store_generation_sessions', 'id', 'uuid'), ('store_generation_sessions', 'store_id', 'uuid'),
            ('generation_sessions', 'status', 'text'), ('store_generation_sessions', 'status', 'text'),
            ('generation_sessions', 'result_url', 'text'), ('store_generation_sessions', 'result_url', 'text'),
            ('generation_sessions', 'error_message', 'text'),
            ('store_generation_sessions', 'error_message', 'text'),
            ('generation_sessions', 'updated_at', 'timestamp with time zone'),
            ('store_generation_sessions', 'updated_at', 'timestamp with time zone')
        ) as need (table_name, column_name, type_name)
    loop
        select pg_catalog.format_type(a.atttypid, a.atttypmod) into v_type
            from pg_catalog.pg_attribute a
            where a.attrelid = pg_catalog.to_regclass(pg_catalog.format('public.%I', v_need.table_name))
              and a.attname = v_need.column_name and a.attnum > 0 and not a.attisdropped;
        if v_type is null then
            v_missing := v_missing || pg_catalog.format('column public.%I.%I %s',
                                             v_need.table_name, v_need.column_name, v_need.type_name);
        elsif v_type <> v_need.type_name then
            v_missing := v_missing || pg_catalog.format('column public.%I.%I as %s (it is %s)',
                                             v_need.table_name, v_need.column_name, v_need.type_name, v_type);
        end if;
    end loop;
    if v_refund is null then
        v_missing := v_missing
            || 'function public.refund_credits(p_user_id uuid, p_store_id uuid, p_amount integer)'::text;
    elsif (select p.proargnames[1:3] from pg_catalog.pg_proc p where p.oid = v_refund)
          is distinct from array['p_user_id', 'p_store_id', 'p_amount'] then
        v_missing := v_missing || 'refund_credits parameters named p_user_id, p_store_id, p_amount'::text;
    end if;
    if not exists (select from pg_catalog.pg_roles where rolname = p_role) then
        return v_missing || pg_catalog.format('role %s', p_role);
    end if;
    if v_refund is not null and not pg_catalog.has_function_privilege(p_role, v_refund, 'execute') then
        v_missing := v_missing || pg_catalog.format('EXECUTE on public.refund_credits for %s', p_role);
    end if;
    -- Our functions run as the caller: it reads and writes the sessions itself, and a row level
    -- security it does not bypass would make every write match no row, silently.
    foreach v_table in array array['generation_sessions', 'store_generation_sessions'] loop
        continue when pg_catalog.to_regclass('public.' || v_table) is null;
        if not (pg_catalog.has_table_privilege(p_role, 'public.' || v_table, 'select')
                and pg_catalog.has_table_privilege(p_role, 'public.' || v_table, 'update')) then
            v_missing := v_missing || pg_catalog.format('SELECT and UPDATE on public.%I for %s', v_table, p_role);
        end if;
    end loop;
    if not (select rolbypassrls or rolsuper from pg_catalog.pg_roles where rolname = p_role) then
        v_missing := v_missing || pg_catalog.format('BYPASSRLS for %s (row level security would hide the sessions)', p_role);
    end if;
    return v_missing;
end $$;

do $$
declare
    v_missing text[] := public.wearon_app_gaps('service_role');
begin
    if cardinality(v_missing) > 0 then
        raise exception 'wearon contract: this database lacks %', array_to_string(v_missing, '; ')
            using errcode = 'undefined_object';
    end if;
end $$;

create table if not exists public.wearon_session_claims (
    channel     text not null check (channel in ('b2c', 'b2b')),
    session_id  uuid not null,
    claim_token text not null,
    attempts    integer not null default 1 check (attempts >= 1),
    claimed_at  timestamptz not null default now(),
    primary key (channel, session_id)
);

create table if not exists public.wearon_refunds (
    channel    text not null check (channel in ('b2c', 'b2b')),
    session_id uuid not null,
    owner_id   uuid not null,
    amount     integer not null default 1 check (amount = 1),
    reason     text,
    created_at timestamptz not null default now(),
    primary key (channel, session_id)
);

-- Supabase grants anon and authenticated everything new in `public`, and PostgREST serves it:
-- revoked below, and with row level security on and no policy, nobody but service_role (which
-- bypasses it) reads these rows even if a grant comes back.
alter table public.wearon_session_claims enable row level security;
alter table public.wearon_refunds enable row level security;

-- Which table a channel's sessions live in, and whose credit it spent; anything else is a bug.
create or replace function public.wearon_session_table(p_channel text) returns text
language plpgsql immutable set search_path = '' as $$
begin
    case p_channel
        when 'b2c' then return 'generation_sessions';
        when 'b2b' then return 'store_generation_sessions';
        else raise exception 'unknown channel %', p_channel using errcode = '22023';
    end case;
end $$;

create or replace function public.wearon_owner_column(p_channel text) returns text
language plpgsql immutable set search_path = '' as $$
begin
    perform public.wearon_session_table(p_channel);  -- rejects an unknown channel
    return case p_channel when 'b2b' then 'store_id' else 'user_id' end;
end $$;

-- THE seam to the app's money: one credit back to a session's owner. Another shape of the app's
-- refund function is a change to this function only.
create or replace function public.wearon_refund_owner(p_channel text, p_owner uuid) returns void
language plpgsql set search_path = '' as $$
begin
    case p_channel
        when 'b2c' then perform public.refund_credits(p_user_id => p_owner, p_amount => 1);
        when 'b2b' then perform public.refund_credits(p_store_id => p_owner, p_amount => 1);
        else raise exception 'unknown channel %', p_channel using errcode = '22023';
    end case;
end $$;

-- Locks the app's session row and reads it with our claim on it. Every function that writes a
-- session or its claim takes this lock first, so they are serialised per session.
create or replace function public.wearon_lock_session(
    p_channel text, p_session_id uuid, out o_status text, out o_owner uuid, out o_token text)
language plpgsql set search_path = '' as $$
begin
    execute format('select status, %I from public.%I where id = $1 for update',
                   public.wearon_owner_column(p_channel), public.wearon_session_table(p_channel))
        into o_status, o_owner using p_session_id;
    select c.claim_token into o_token from public.wearon_session_claims c
        where c.channel = p_channel and c.session_id = p_session_id;
end $$;

-- The only statement that writes the app's session rows, and the only columns it writes.
create or replace function public.wearon_write_session(
    p_channel text, p_session_id uuid, p_status text, p_result_url text, p_error_message text)
returns void language plpgsql set search_path = '' as $$
begin
    execute format('update public.%I set status = $2, result_url = coalesce($3, result_url),
                    error_message = $4, updated_at = now() where id = $1',
                   public.wearon_session_table(p_channel))
        using p_session_id, p_status, p_result_url, p_error_message;
end $$;

-- queued -> processing under p_token; a redelivered message (same token) resumes its own claim.
-- Returns 'claimed', 'busy' (processing under another token), 'finished' or 'missing'.
create or replace function public.wearon_claim_session(p_channel text, p_session_id uuid, p_token text)
returns text language plpgsql set search_path = '' as $$
declare
    v_session record;
begin
    v_session := public.wearon_lock_session(p_channel, p_session_id);
    if v_session.o_status is null then
        return 'missing';
    elsif v_session.o_status not in ('queued', 'processing') then
        return 'finished';
    elsif v_session.o_status = 'processing' and v_session.o_token is distinct from p_token then
        return 'busy';
    end if;
    perform public.wearon_write_session(p_channel, p_session_id, 'processing', null, null);
    insert into public.wearon_session_claims as c (channel, session_id, claim_token)
        values (p_channel, p_session_id, p_token)
        on conflict (channel, session_id)
        do update set claim_token = excluded.claim_token, attempts = c.attempts + 1, claimed_at = now();
    return 'claimed';
end $$;

-- True when the session is processing under p_token; locks it either way.
create or replace function public.wearon_holds_claim(p_channel text, p_session_id uuid, p_token text)
returns boolean language plpgsql set search_path = '' as $$
declare
    v_session record;
begin
    v_session := public.wearon_lock_session(p_channel, p_session_id);
    return v_session.o_status = 'processing' and v_session.o_token = p_token;
end $$;

-- processing -> queued while our retry waits. The claim is kept, but a queued row is claimable by
-- any message, so this only tells a user-facing status that nobody is working on it right now.
create or replace function public.wearon_requeue_session(p_channel text, p_session_id uuid, p_token text)
returns boolean language plpgsql set search_path = '' as $$
begin
    if not coalesce(public.wearon_holds_claim(p_channel, p_session_id, p_token), false) then
        return false;
    end if;
    perform public.wearon_write_session(p_channel, p_session_id, 'queued', null, null);
    return true;
end $$;

-- processing -> completed, only under our claim.
create or replace function public.wearon_complete_session(
    p_channel text, p_session_id uuid, p_token text, p_result_url text)
returns boolean language plpgsql set search_path = '' as $$
begin
    if not coalesce(public.wearon_holds_claim(p_channel, p_session_id, p_token), false) then
        return false;
    end if;
    perform public.wearon_write_session(p_channel, p_session_id, 'completed', p_result_url, null);
    return true;
end $$;

-- queued|processing -> failed, and one credit back to the owner through the app's refund_credits,
-- in this one transaction, at most once per session: the ledger row, the session's status and the
-- credit commit together or not at all. True only for the call that refunded.
create or replace function public.wearon_fail_and_refund(p_channel text, p_session_id uuid, p_reason text)
returns boolean language plpgsql set search_path = '' as $$
declare
    v_session  record;
    v_refunded integer;
begin
    -- The row lock makes a concurrent caller wait here, then see 'failed' and return false.
    v_session := public.wearon_lock_session(p_channel, p_session_id);
    if v_session.o_status is null or v_session.o_status not in ('queued', 'processing') then
        return false;
    end if;
    perform public.wearon_write_session(p_channel, p_session_id, 'failed', null, p_reason);
    -- The ledger is the last word: even if the session were reopened by hand, no second refund.
    insert into public.wearon_refunds (channel, session_id, owner_id, reason)
        values (p_channel, p_session_id, v_session.o_owner, p_reason)
        on conflict do nothing;
    get diagnostics v_refunded = row_count;
    if v_refunded = 0 then
        return false;
    end if;
    perform public.wearon_refund_owner(p_channel, v_session.o_owner);
    return true;
end $$;

-- fail_and_refund every session queued|processing for longer than p_older_than_s. SKIP LOCKED:
-- never wait on a worker that holds a row; it is alive, and the next sweep will see the row again.
-- Each session in a subtransaction of its own: one owner whose refund_credits refuses (a deleted
-- user, say) is skipped, left open for the next sweep, and counted, and the others are refunded.
create or replace function public.wearon_sweep_stuck(
    p_older_than_s integer, p_reason text, out refunded integer, out skipped integer)
language plpgsql set search_path = '' as $$
declare
    v_channel text;
    v_id      uuid;
begin
    refunded := 0;
    skipped := 0;
    foreach v_channel in array array['b2c', 'b2b'] loop
        for v_id in execute format(
            'select id from public.%I where status in (''queued'', ''processing'')
             and updated_at < now() - make_interval(secs => $1) for update skip locked',
            public.wearon_session_table(v_channel)) using p_older_than_s
        loop
            begin
                if public.wearon_fail_and_refund(v_channel, v_id, p_reason) then
                    refunded := refunded + 1;
                end if;
            exception when others then
                skipped := skipped + 1;
                raise warning 'wearon_sweep_stuck: % session % left open: % %', v_channel, v_id, sqlstate, sqlerrm;
            end;
        end loop;
    end loop;
end $$;

-- What this database lacks for the caller (the worker's role) to run: the app's side
-- (wearon_app_gaps) and our own grants. Each worker process asks at start and exits on a gap;
-- `wearon-admin check` asks too. Empty when the worker can run.
create or replace function public.wearon_contract_gaps() returns text[]
language sql stable set search_path = '' as $$
    select public.wearon_app_gaps(current_user::text)
        || array(
            select pg_catalog.format('EXECUTE on %s for %s', f, current_user)
            from pg_catalog.unnest(array[
                'public.wearon_claim_session(text, uuid, text)', 'public.wearon_requeue_session(text, uuid, text)',
                'public.wearon_complete_session(text, uuid, text, text)',
                'public.wearon_fail_and_refund(text, uuid, text)', 'public.wearon_sweep_stuck(integer, text)'
            ]::regprocedure[]) as f
            where not pg_catalog.has_function_privilege(f, 'execute'))
        || array(
            select pg_catalog.format('%s on public.%s for %s', p, t, current_user)
            from (values ('wearon_session_claims', 'select'), ('wearon_session_claims', 'insert'),
                         ('wearon_session_claims', 'update'), ('wearon_refunds', 'select'),
                         ('wearon_refunds', 'insert')) as need (t, p)
            where not pg_catalog.has_table_privilege('public.' || t, p))
$$;

-- Functions are executable by PUBLIC by default, and Supabase grants anon and authenticated
-- everything in `public`: an anonymous caller could fail sessions and move credits. Only the
-- service role (the worker) may call them and touch our tables.
do $$
declare
    v_object text;
    v_role   text;
begin
    for v_object in
        select 'function ' || p.oid::regprocedure from pg_proc p
            where p.pronamespace = 'public'::regnamespace and p.proname like 'wearon\_%'
        union all
        select 'table public.' || quote_ident(c.relname) from pg_class c
            where c.relnamespace = 'public'::regnamespace and c.relkind = 'r' and c.relname like 'wearon\_%'
    loop
        execute format('revoke all on %s from public', v_object);
        foreach v_role in array array['anon', 'authenticated'] loop
            if exists (select from pg_roles where rolname = v_role) then
                execute format('revoke all on %s from %I', v_object, v_role);
            end if;
        end loop;
    end loop;
end $$;

grant execute on function
    public.wearon_session_table(text), public.wearon_owner_column(text),
    public.wearon_refund_owner(text, uuid), public.wearon_lock_session(text, uuid),
    public.wearon_write_session(text, uuid, text, text, text),
    public.wearon_claim_session(text, uuid, text), public.wearon_holds_claim(text, uuid, text),
    public.wearon_requeue_session(text, uuid, text), public.wearon_complete_session(text, uuid, text, text),
    public.wearon_fail_and_refund(text, uuid, text), public.wearon_sweep_stuck(integer, text),
    public.wearon_app_gaps(text), public.wearon_contract_gaps()
    to service_role;
grant select, insert, update on public.wearon_session_claims to service_role;
grant select, insert on public.wearon_refunds to service_role;
