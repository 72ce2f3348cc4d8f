package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/nextoria/authz/storage"
)

func (c *cli) migrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply or inspect database migrations",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration",
		Long: `Apply every pending migration. Several instances may run it at once: a
PostgreSQL advisory lock makes the others wait, then find nothing to do.
When database.migrate_url is set, migrations run on that direct connection
rather than on database.url (which may go through a transaction pooler).`,
		Example:     "  nextoria-authz migrate up\n  nextoria-authz migrate up --json   # {\"applied\":1}",
		Args:        cobra.NoArgs,
		Annotations: map[string]string{needsConfig: configData},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withStore(cmd.Context(), false, func(ctx context.Context, store *storage.Store) error {
				n, err := migrate(ctx, c.cfg.Database, store.Pool())
				if err != nil {
					return err
				}
				if c.json {
					return c.printJSON(map[string]int{"applied": n})
				}
				c.printf("applied %d migration(s)\n", n)
				return nil
			})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:         "status",
		Short:       "Show the schema version and pending migrations",
		Example:     "  nextoria-authz migrate status --json   # {\"current\":1,\"latest\":1,\"pending\":[]}",
		Args:        cobra.NoArgs,
		Annotations: map[string]string{needsConfig: configData},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withStore(cmd.Context(), false, func(ctx context.Context, store *storage.Store) error {
				st, err := storage.GetMigrationStatus(ctx, store.Pool())
				if err != nil {
					return err
				}
				if c.json {
					pending := st.Pending
					if pending == nil {
						pending = []string{}
					}
					return c.printJSON(map[string]any{"current": st.Current, "latest": st.Latest, "pending": pending})
				}
				c.printf("schema version: %d (latest: %d)\n", st.Current, st.Latest)
				if len(st.Pending) == 0 {
					c.printf("up to date\n")
				} else {
					c.printf("pending: %s\nrun 'nextoria-authz migrate up' to apply them\n", strings.Join(st.Pending, ", "))
				}
				return nil
			})
		},
	})
	return cmd
}

// migrate applies pending migrations on db.MigrateURL when it is set, on
// pool otherwise. Migrations hold a session-level advisory lock and set
// session parameters, which through a transaction pooler (PgBouncer's
// pool_mode=transaction) would land on whichever server connection the
// pooler picks for each statement: the unlock could miss the lock, and a
// leaked lock would stall every later migration.
func migrate(ctx context.Context, db DatabaseConfig, pool *pgxpool.Pool) (int, error) {
	if db.MigrateURL == "" {
		return storage.Migrate(ctx, pool)
	}
	direct, err := storage.ConnectPool(ctx, db.MigrateURL, db.MigrationPoolOptions())
	if err != nil {
		return 0, fmt.Errorf("migrate on database.migrate_url: %w", err)
	}
	defer direct.Close()
	return storage.Migrate(ctx, direct)
}
