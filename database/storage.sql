-- =============================================================================
-- genvault: the Storage bucket that keeps the image files.
--
-- For a hosted (or `supabase start`) Supabase project only: it needs Supabase
-- Storage's schema (storage.buckets, storage.objects, storage.foldername).
-- `gen db migrate` applies it only where storage.objects exists; in the SQL
-- editor, paste it after monitoring.sql. Idempotent.
--
-- Files live under "<user id>/<file>" in the private bucket `generations`, the
-- same layout that user_generations.image_url is checked against. The policies
-- below let a signed-in user read and write only inside their own folder; a
-- private bucket serves a file only to such a user or through a signed URL
-- (and creating a signed URL needs the SELECT policy).
--
-- Supabase Storage already enables Row Level Security on storage.objects, and
-- the table belongs to supabase_storage_admin: the postgres role may create
-- and drop policies on it, but not alter it or comment on its policies. That is
-- why this file neither touches the table nor uses COMMENT ON POLICY; each
-- policy is explained by the comment above it instead.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- Bucket
-- -----------------------------------------------------------------------------

-- The private bucket for generated images: at most 50 MB a file, and only the
-- image types genvault writes. Re-applying puts these settings back, so a
-- bucket made public by mistake becomes private again.
insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('generations', 'generations', false, 52428800,
        array['image/webp', 'image/png', 'image/jpeg'])
on conflict (id) do update
  set public = excluded.public,
      file_size_limit = excluded.file_size_limit,
      allowed_mime_types = excluded.allowed_mime_types;

-- -----------------------------------------------------------------------------
-- Policies on storage.objects: one per command, signed-in users only, each
-- limited to the bucket and to the folder named after the caller's user id.
-- -----------------------------------------------------------------------------

-- Reading (download, list, signed URLs): only files in the caller's own folder.
drop policy if exists "Users can view their own generation files" on storage.objects;
create policy "Users can view their own generation files"
  on storage.objects for select
  to authenticated
  using (
    bucket_id = 'generations'
    and (storage.foldername(name))[1] = (select auth.uid()::text)
  );

-- Uploading: a new file must go into the caller's own folder.
drop policy if exists "Users can upload their own generation files" on storage.objects;
create policy "Users can upload their own generation files"
  on storage.objects for insert
  to authenticated
  with check (
    bucket_id = 'generations'
    and (storage.foldername(name))[1] = (select auth.uid()::text)
  );

-- Overwriting or moving: only the caller's files, and only to a place that is
-- still in the caller's folder.
drop policy if exists "Users can update their own generation files" on storage.objects;
create policy "Users can update their own generation files"
  on storage.objects for update
  to authenticated
  using (
    bucket_id = 'generations'
    and (storage.foldername(name))[1] = (select auth.uid()::text)
  )
  with check (
    bucket_id = 'generations'
    and (storage.foldername(name))[1] = (select auth.uid()::text)
  );

-- Removing: only the caller's files (through the Storage API, which is the only
-- way Supabase lets files be deleted).
drop policy if exists "Users can delete their own generation files" on storage.objects;
create policy "Users can delete their own generation files"
  on storage.objects for delete
  to authenticated
  using (
    bucket_id = 'generations'
    and (storage.foldername(name))[1] = (select auth.uid()::text)
  );
