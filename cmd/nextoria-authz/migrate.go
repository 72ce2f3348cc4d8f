package main

import (
	"context"
	"strings"

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
PostgreSQL advisory lock makes the others wait, then find nothing to do.`,
		Example:     "  nextoria-authz migrate up\n  nextoria-authz migrate up --json   # {\"applied\":1}",
		Args:        cobra.NoArgs,
		Annotations: map[string]string{needsConfig: configData},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withStore(cmd.Context(), false, func(ctx context.Context, store *storage.Store) error {
				n, err := storage.Migrate(ctx, store.Pool())
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
