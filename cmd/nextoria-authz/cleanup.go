package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nextoria/authz/storage"
)

// cleanupBatch is how many rows one DELETE removes, so that a large backlog
// never holds long locks.
const cleanupBatch = 1000

func (c *cli) cleanupCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cleanup",
		Short: "Delete expired codes, tokens, sessions and consent challenges",
		Long: `Delete expired authorization codes, PKCE sessions, access and refresh
tokens, login sessions and consent challenges. Run it periodically, e.g. from
cron or a systemd timer; it is safe to run while the server is serving.
Only one process deletes at a time (an advisory lock): when a server instance
is already at it, the command does nothing and says so ("skipped": true).`,
		Example:     "  nextoria-authz cleanup --json   # {\"deleted\":42}",
		Args:        cobra.NoArgs,
		Annotations: map[string]string{needsConfig: configData},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withStore(cmd.Context(), true, func(ctx context.Context, store *storage.Store) error {
				n, err := store.DeleteExpiredAlone(ctx, cleanupBatch)
				if errors.Is(err, storage.ErrCleanupRunning) {
					// A server instance (or another cleanup) is deleting
					// them right now: nothing to do.
					if c.json {
						return c.printJSON(map[string]any{"deleted": 0, "skipped": true})
					}
					c.printf("another process is deleting expired rows; nothing done\n")
					return nil
				}
				if err != nil {
					return fmt.Errorf("cleanup: %w", err)
				}
				if c.json {
					return c.printJSON(map[string]int64{"deleted": n})
				}
				c.printf("deleted %d expired row(s)\n", n)
				return nil
			})
		},
	}
}
