-- Of the roles in $1 (a JSON array of names, from source_roles.sql), those the target server
-- lacks, and those it has but the connecting user cannot act as (neither a superuser nor a
-- member): restoring owners and grants needs both.
-- One row. Columns: 0 missing roles, 1 roles not usable (each comma separated, "" when none);
--                   2 the connecting user
SELECT coalesce(string_agg(quote_ident(r.name), ', ' ORDER BY r.name)
                    FILTER (WHERE a.oid IS NULL), ''),
       coalesce(string_agg(quote_ident(r.name), ', ' ORDER BY r.name)
                    FILTER (WHERE a.oid IS NOT NULL
                              AND NOT pg_has_role(current_user, a.oid, 'MEMBER')), ''),
       current_user::text
  FROM json_array_elements_text($1::json) AS r(name)
  LEFT JOIN pg_roles a ON a.rolname = r.name
