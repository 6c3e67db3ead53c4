-- Read-only: one session as an operator sees it (`wearon-admin session show`), from either channel:
-- the app's row (the columns the contract already reads and writes), our claim on it and its refund.
-- Null when neither channel has the session. Safe to run again.

create or replace function public.wearon_session_report(p_session_id uuid) returns jsonb
language plpgsql stable set search_path = '' as $$
declare
    v_channel text;
    v_row     jsonb;
begin
    foreach v_channel in array array['b2c', 'b2b'] loop
        execute format(
            'select jsonb_build_object(''owner_id'', %I, ''status'', status, ''result_url'', result_url,
                    ''error_message'', error_message, ''updated_at'', updated_at)
             from public.%I where id = $1',
            public.wearon_owner_column(v_channel), public.wearon_session_table(v_channel))
            into v_row using p_session_id;
        if v_row is not null then
            return v_row || jsonb_build_object(
                'channel', v_channel,
                'claim', (select jsonb_build_object('token', c.claim_token, 'attempts', c.attempts,
                                                    'claimed_at', c.claimed_at)
                          from public.wearon_session_claims c
                          where c.channel = v_channel and c.session_id = p_session_id),
                'refund', (select jsonb_build_object('reason', r.reason, 'at', r.created_at)
                           from public.wearon_refunds r
                           where r.channel = v_channel and r.session_id = p_session_id));
        end if;
    end loop;
    return null;
end $$;

-- As every wearon_* function (0001): nobody but the service role may call it.
revoke all on function public.wearon_session_report(uuid) from public;
do $$
declare
    v_role text;
begin
    foreach v_role in array array['anon', 'authenticated'] loop
        if exists (select from pg_roles where rolname = v_role) then
            execute format('revoke all on function public.wearon_session_report(uuid) from %I', v_role);
        end if;
    end loop;
end $$;
grant execute on function public.wearon_session_report(uuid) to service_role;
