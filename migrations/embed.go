// Package migrations holds the numbered SQL files that define the database schema.
// They are embedded in the binary and applied by jackc/tern under a PostgreSQL
// advisory lock, so several instances may start at once.
package migrations

import "embed"

// FS holds every migration, named NNN_description.sql.
//
//go:embed *.sql
var FS embed.FS
