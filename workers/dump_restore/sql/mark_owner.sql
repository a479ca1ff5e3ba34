-- Who wrote the mark, locked until the end of the copy's last transaction: the copy drops the
-- mark only when it is still its own (started_by and started_at as it wrote them, in ms), so
-- an earlier attempt that outlived its lease never finishes over a newer attempt's copy.
SELECT started_by, round(extract(epoch FROM started_at) * 1000)::bigint
  FROM _ferry.copy_status
 WHERE id = 1
   FOR UPDATE
