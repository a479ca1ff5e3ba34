-- Every copy and verify connection: text output pinned so checksums compare across servers,
-- row security off so a COPY fails loudly rather than skip rows, no statement time limit.
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';
SET TimeZone = 'UTC';
SET extra_float_digits = 3;
SET bytea_output = 'hex';
SET row_security = off;
SET statement_timeout = 0;
SET lock_timeout = '60s';
SET idle_in_transaction_session_timeout = 0;
