package store

import (
	"context"
	"fmt"
)

// SourceSettings is what the configuration says of a source, without its secrets: the row of
// modelarts.source_settings that BI tools read through the view sources.
type SourceSettings struct {
	Source       string
	ProjectID    string
	Region       string
	Endpoint     string // without user information
	AuthMode     string // "aksk" or "token"
	WorkspaceID  string
	FullSchedule string
	HeadSchedule string
}

// recordSourceSettingsSQL writes the settings, and nothing when they did not change.
const recordSourceSettingsSQL = `
INSERT INTO modelarts.source_settings AS s
    (source, project_id, region, endpoint, auth_mode, workspace_id, full_schedule, head_schedule, recorded_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
ON CONFLICT (source) DO UPDATE
SET project_id = excluded.project_id, region = excluded.region, endpoint = excluded.endpoint,
    auth_mode = excluded.auth_mode, workspace_id = excluded.workspace_id,
    full_schedule = excluded.full_schedule, head_schedule = excluded.head_schedule, recorded_at = now()
WHERE (s.project_id, s.region, s.endpoint, s.auth_mode, s.workspace_id, s.full_schedule, s.head_schedule)
      IS DISTINCT FROM (excluded.project_id, excluded.region, excluded.endpoint, excluded.auth_mode,
                        excluded.workspace_id, excluded.full_schedule, excluded.head_schedule)`

// RecordSourceSettings stores a source's settings when they differ from the stored ones.
func (s *Store) RecordSourceSettings(ctx context.Context, ss SourceSettings) error {
	_, err := s.pool.Exec(ctx, recordSourceSettingsSQL, ss.Source, ss.ProjectID, ss.Region, ss.Endpoint,
		ss.AuthMode, ss.WorkspaceID, ss.FullSchedule, ss.HeadSchedule)
	if err != nil {
		return fmt.Errorf("record the settings of source %s: %w", ss.Source, interpretError(err))
	}
	return nil
}
