-- Segments moved to object storage (storage.remote): the object's key, set once the upload is
-- verified and before the local file is removed, so a crash at any step leaves the segment
-- readable in one place or the other. NULL: the segment is a local file.
ALTER TABLE segments ADD COLUMN remote_key TEXT;
-- A remote segment replaced or expired: its object is deleted with the file, after the grace period.
ALTER TABLE segment_deletions ADD COLUMN remote_key TEXT;
