package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nextoria/authz/storage"
)

func (c *cli) cleanupCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cleanup",
		Short: "Delete expired codes, tokens, sessions and consent challenges",
		Long: `Delete expired authorization codes, PKCE sessions, access and refresh
tokens, login sessions and consent challenges. Run it periodically, e.g. from
cron or a systemd timer; it is safe to run while the server is serving.
It deletes cleanup.batch rows per transaction. Only one process deletes at a
time (a transaction-level advisory lock taken by each batch, which also works
through a transaction-pooling PgBouncer): when a server instance is at it, the
command stops and says so ("skipped": true), with what it deleted before.`,
		Example:     "  nextoria-authz cleanup --json   # {\"deleted\":42}",
		Args:        cobra.NoArgs,
		Annotations: map[string]string{needsConfig: configData},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withStore(cmd.Context(), true, func(ctx context.Context, store *storage.Store) error {
				n, err := store.DeleteExpiredAlone(ctx, c.cfg.Cleanup.Batch)
				if errors.Is(err, storage.ErrCleanupRunning) {
					// A server instance (or another cleanup) is deleting
					// them right now and carries on: nothing more to do.
					if c.json {
						return c.printJSON(map[string]any{"deleted": n, "skipped": true})
					}
					c.printf("another process is deleting expired rows; deleted %d row(s) before it took over\n", n)
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
