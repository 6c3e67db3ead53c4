-- A lease on each claim: which attempt of the claiming message is working on the session, and until
-- when. A message's claim (its token, the Dramatiq message id) is resumed by a copy of the same
-- message, as a crash's redelivery must be; but a copy is also redelivered while the first attempt
-- still runs, when its host is only cut off from the broker past the heartbeat timeout. The lease
-- tells the two apart: the running attempt renews it (every few seconds, from its process), so a
-- copy finds it live and waits ('held') instead of paying the provider a second time; a dead
-- attempt stops renewing, and its copy takes over once the lease has run out.
--
-- Safe to run again. Needs 0001. The 0001 claim function (without a lease) stays for workers of
-- the previous release during a deploy.

alter table public.wearon_session_claims
    add column if not exists lease_holder text,
    add column if not exists lease_until  timestamptz;

-- A lease's length, from its seconds (0 ends it now); anything outside 0 to 3600 is a bug.
create or replace function public.wearon_lease_interval(p_lease_s integer) returns interval
language plpgsql immutable set search_path = '' as $$
begin
    if p_lease_s is null or p_lease_s not between 0 and 3600 then
        raise exception 'lease of % s: must be 0 to 3600', p_lease_s using errcode = '22023';
    end if;
    return pg_catalog.make_interval(secs => p_lease_s);
end $$;

-- queued -> processing under p_token, held by the attempt p_holder for p_lease_s seconds.
-- Returns 'claimed', 'busy' (processing under another message), 'held' (processing under this
-- message, by another attempt whose lease is live), 'finished' or 'missing'.
create or replace function public.wearon_claim_session(
    p_channel text, p_session_id uuid, p_token text, p_holder text, p_lease_s integer)
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
    elsif v_session.o_status = 'processing' and exists (
            select from public.wearon_session_claims c
            where c.channel = p_channel and c.session_id = p_session_id
              and c.lease_holder is distinct from p_holder and c.lease_until > pg_catalog.now()) then
        return 'held';
    end if;
    perform public.wearon_write_session(p_channel, p_session_id, 'processing', null, null);
    insert into public.wearon_session_claims as c
            (channel, session_id, claim_token, lease_holder, lease_until)
        values (p_channel, p_session_id, p_token, p_holder, pg_catalog.now() + public.wearon_lease_interval(p_lease_s))
        on conflict (channel, session_id)
        do update set claim_token = excluded.claim_token, attempts = c.attempts + 1, claimed_at = pg_catalog.now(),
                      lease_holder = excluded.lease_holder, lease_until = excluded.lease_until;
    return 'claimed';
end $$;

-- Extends, by p_lease_s from now, each lease in p_leases ([{"session_id", "holder"}, ...], one
-- channel's) that its holder still holds; 0 ends them now (an attempt that failed lets a copy of
-- its message in at once). Returns the session ids renewed, as a JSON array: a lease missing from
-- it was taken over (it had run out) and is no longer the caller's.
create or replace function public.wearon_renew_leases(p_channel text, p_leases jsonb, p_lease_s integer)
returns jsonb language plpgsql set search_path = '' as $$
declare
    v_renewed jsonb;
begin
    perform public.wearon_session_table(p_channel);  -- rejects an unknown channel
    with renewed as (
        update public.wearon_session_claims c
            set lease_until = pg_catalog.now() + public.wearon_lease_interval(p_lease_s)
            from pg_catalog.jsonb_to_recordset(p_leases) as l (session_id uuid, holder text)
            where c.channel = p_channel and c.session_id = l.session_id and c.lease_holder = l.holder
            returning c.session_id)
    select coalesce(pg_catalog.jsonb_agg(session_id), '[]'::jsonb) into v_renewed from renewed;
    return v_renewed;
end $$;

-- What the caller (the worker's role) lacks of this migration; empty when nothing. The worker asks
-- it at start beside 0001's wearon_contract_gaps: on a database without this migration the call
-- itself fails (PGRST202), and the worker refuses to start rather than fail every claim.
create or replace function public.wearon_lease_gaps() returns text[]
language sql stable set search_path = '' as $$
    select array(
        select pg_catalog.format('EXECUTE on %s for %s', f, current_user)
        from pg_catalog.unnest(array[
            'public.wearon_claim_session(text, uuid, text, text, integer)',
            'public.wearon_renew_leases(text, jsonb, integer)', 'public.wearon_lease_interval(integer)'
        ]::regprocedure[]) as f
        where not pg_catalog.has_function_privilege(f, 'execute'))
$$;

-- As every wearon_* function (0001): nobody but the service role may call these.
do $$
declare
    v_function text;
    v_role     text;
begin
    foreach v_function in array array[
        'public.wearon_lease_interval(integer)', 'public.wearon_claim_session(text, uuid, text, text, integer)',
        'public.wearon_renew_leases(text, jsonb, integer)', 'public.wearon_lease_gaps()'] loop
        execute format('revoke all on function %s from public', v_function);
        foreach v_role in array array['anon', 'authenticated'] loop
            if exists (select from pg_roles where rolname = v_role) then
                execute format('revoke all on function %s from %I', v_function, v_role);
            end if;
        end loop;
    end loop;
end $$;
grant execute on function
    public.wearon_lease_interval(integer), public.wearon_claim_session(text, uuid, text, text, integer),
    public.wearon_renew_leases(text, jsonb, integer), public.wearon_lease_gaps()
    to service_role;
