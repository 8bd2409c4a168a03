-- =============================================================================
-- genvault: letting share recipients see shared image files in Storage.
--
-- For a hosted (or `supabase start`) Supabase project only, like storage.sql:
-- `gen db migrate` applies it only where storage.objects exists; in the SQL
-- editor, paste it after organising.sql. Idempotent.
--
-- storage.sql keeps every user inside their own folder. A generation shared
-- with another user (alone, or in a shared collection) must also be readable
-- by that user, and only while the share lasts and the image is not in the
-- trash: public.genvault_is_shared_file (organising.sql) answers that for one
-- path, checking the share on every read, so unsharing ends access at once.
-- As in storage.sql, the policy is explained here rather than by COMMENT ON
-- POLICY, which the postgres role may not use on storage.objects.
-- =============================================================================

-- Reading (download, signed URLs) a file of a generation shared with the
-- caller. Read-only: no insert, update or delete policy goes with it.
drop policy if exists "Share recipients can view shared generation files" on storage.objects;
create policy "Share recipients can view shared generation files"
  on storage.objects for select
  to authenticated
  using (
    bucket_id = 'generations'
    and public.genvault_is_shared_file(name)
  );
