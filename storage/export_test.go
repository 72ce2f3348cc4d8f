package storage

import "context"

// Exported for the external tests of this package.
const RotateRefreshSQL = rotateRefreshSQL

var HashSignature = hashSignature

// QueueWrite writes sql through the store's write path: queued when ctx
// holds a pending batch.
func QueueWrite(ctx context.Context, s *Store, sql string) error {
	return s.write(ctx, queued{sql: sql})
}
