-- The target's schemas the copy replaces: every one but the system's and Ferry's own.
SELECT quote_ident(nspname), nspname = 'public'
  FROM pg_namespace
 WHERE nspname NOT IN ('pg_catalog', 'information_schema', '_ferry')
   AND nspname NOT LIKE 'pg\_toast%'
   AND nspname NOT LIKE 'pg\_temp\_%'
 ORDER BY 1
