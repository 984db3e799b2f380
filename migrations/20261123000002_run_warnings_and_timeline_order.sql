-- What an analysis noticed but did not turn into findings: manifests that could not be
-- identified, live state without managedFields, duplicate objects. Shown with the run so
-- nothing is silently dropped.
ALTER TABLE analysis_runs
    ADD COLUMN warnings jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(warnings) = 'array');
