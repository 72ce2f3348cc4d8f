package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/nextoria/authz/storage"
)

// plans lists the workspace plans in the order the CLI shows them.
var plans = []string{storage.PlanStarter, storage.PlanGrowth, storage.PlanScale}

func (c *cli) workspacesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "workspaces",
		Short: "Manage workspaces",
	}
	var name, plan string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a workspace and print its id",
		Example: `  nextoria-authz workspaces create --name "Acme" --plan growth
  nextoria-authz workspaces create --name "Acme" --plan growth --json   # {"id":"…"}`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{needsConfig: configData},
		RunE: func(cmd *cobra.Command, _ []string) error {
			name = strings.TrimSpace(name)
			if err := checkWorkspaceName(name); err != nil {
				return err
			}
			if !slices.Contains(plans, plan) {
				return fmt.Errorf("--plan %q is unknown: use one of %s", plan, strings.Join(plans, ", "))
			}
			return c.withStore(cmd.Context(), true, func(ctx context.Context, store *storage.Store) error {
				ws, err := store.CreateWorkspace(ctx, name, plan)
				if err != nil {
					return fmt.Errorf("create workspace: %w", err)
				}
				if c.json {
					return c.printJSON(map[string]string{"id": ws.ID})
				}
				c.printf("%s\n", ws.ID)
				return nil
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "workspace name (required)")
	create.Flags().StringVar(&plan, "plan", "", "plan: "+strings.Join(plans, ", ")+" (required)")
	_ = create.MarkFlagRequired("name")
	_ = create.MarkFlagRequired("plan")
	cmd.AddCommand(create)
	return cmd
}

func checkWorkspaceName(name string) error {
	if !utf8.ValidString(name) {
		return fmt.Errorf("--name must be valid UTF-8 text")
	}
	if n := utf8.RuneCountInString(name); n == 0 || n > 200 {
		return fmt.Errorf("--name must be 1 to 200 characters")
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("--name must contain only printable characters")
		}
	}
	return nil
}
