-- One table's row count and an order-independent content checksum: the sum of the first 64
-- bits of each row's md5 over its text form, for the table named below (quoted). The
-- session settings that shape text output (DateStyle, extra_float_digits, ...) are pinned on
-- both sides before this runs.
SELECT count(*)::text,
       coalesce(sum(('x' || substr(md5(t::text), 1, 16))::bit(64)::bigint::numeric), 0)::text
  FROM ONLY {rel} AS t
