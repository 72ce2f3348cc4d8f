package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nextoria/authz/apikey"
	"github.com/nextoria/authz/consent"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
)

func (c *cli) apiKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "api-keys",
		Short: "Manage workspace API keys",
	}
	cmd.AddCommand(c.apiKeysCreateCmd(), c.apiKeysListCmd(), c.apiKeysRevokeCmd())
	return cmd
}

// apiKeyFlags maps apikey.FieldErrors keys to the flags that set them.
var apiKeyFlags = map[string]string{
	apikey.FieldName:      "--name",
	apikey.FieldScopes:    "--scope",
	apikey.FieldExpiresIn: "--expires-in",
}

// apiKeyFlagErrors restates field errors in terms of the command's flags.
func apiKeyFlagErrors(err error) error {
	var fe apikey.FieldErrors
	if !errors.As(err, &fe) {
		return err
	}
	lines := make([]string, 0, len(fe))
	for _, k := range slices.Sorted(maps.Keys(fe)) {
		lines = append(lines, apiKeyFlags[k]+": "+fe[k])
	}
	return fmt.Errorf("invalid API key:\n  %s", strings.Join(lines, "\n  "))
}

// apiKeyWorkspaceError explains a workspace that names nothing.
func apiKeyWorkspaceError(workspaceID string) error {
	return fmt.Errorf("--workspace: workspace %q does not exist (create one with 'nextoria-authz workspaces create')", workspaceID)
}

// defaultKeyLifetime is the lifetime of a key created without --expires-in:
// 30 days, as in the settings pages, so that a forgotten key stops working.
const defaultKeyLifetime = 30 * 24 * time.Hour

// msgKeyNeverExpires warns about a key created with --expires-in 0.
const msgKeyNeverExpires = "this key never expires: it keeps working until it is revoked, even if it leaks. Prefer a lifetime (--expires-in)."

func (c *cli) apiKeysCreateCmd() *cobra.Command {
	var (
		workspaceID, name string
		scopes            []string
		expiresIn         time.Duration
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create an API key for a workspace and print it",
		Long: `Create an API key with the given scopes for a workspace.

The key is printed once and cannot be shown again: only its keyed hash is
stored. Hashing it needs secrets.system, the same value the server uses.
Lists show the key's display id (its first characters) instead.`,
		Example: `  nextoria-authz api-keys create --workspace WORKSPACE_ID --name "Zapier Integration" \
      --scope projects:read --scope tasks:read --expires-in 2160h
  nextoria-authz api-keys create ... --json   # {"id":"…","key":"nxh_…"}`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{needsConfig: configData},
		RunE: func(cmd *cobra.Command, _ []string) error {
			keys, err := secret.DeriveKeys(c.cfg.Secrets.System)
			if err != nil {
				return fmt.Errorf("an API key needs secrets.system (or %s), the same value the server uses, to hash it: %w",
					envName("secrets.system"), err)
			}
			return c.withStore(cmd.Context(), true, func(ctx context.Context, store *storage.Store) error {
				svc := &apikey.Service{Store: store, Hasher: secret.NewHasher(keys.SecretHash), Logger: c.logger}
				var (
					k   storage.APIKey
					key string
				)
				err := store.Audited(ctx, func(ctx context.Context) (storage.AuditEvent, error) {
					var err error
					k, key, err = svc.Create(ctx, workspaceID, "", name, scopes, expiresIn)
					return c.operatorEvent(storage.AuditAPIKeyCreated, workspaceID, storage.TargetAPIKey, k.ID,
						map[string]any{"key_name": k.Name, "scopes": k.Scopes}), err
				})
				switch {
				case errors.Is(err, storage.ErrNotFound):
					return apiKeyWorkspaceError(workspaceID)
				case err != nil:
					return apiKeyFlagErrors(err)
				}
				if c.json {
					if k.ExpiresAt.IsZero() {
						fmt.Fprintln(c.stderr, "nextoria-authz: warning: "+msgKeyNeverExpires)
					}
					return c.printJSON(map[string]string{"id": k.ID, "key": key})
				}
				c.printf("id:         %s\n", k.ID)
				c.printf("key:        %s\n", key)
				c.printf("display_id: %s\n", k.DisplayID)
				c.printf("scopes:     %s\n", strings.Join(k.Scopes, " "))
				if k.ExpiresAt.IsZero() {
					c.printf("expires:    never\n\n")
					c.printf("Warning: %s\n", msgKeyNeverExpires)
				} else {
					c.printf("expires:    %s\n\n", k.ExpiresAt.UTC().Format(time.DateTime+" MST"))
				}
				c.printf("The key is shown only this once; only its hash is stored. Keep it somewhere safe now.\n")
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&workspaceID, "workspace", "", "`WORKSPACE_ID` the key gives access to (required)")
	f.StringVar(&name, "name", "", `name telling what the key is for, e.g. "Zapier Integration" (required)`)
	f.StringArrayVar(&scopes, "scope", nil, "`SCOPE` granted to the key (repeatable, at least one): "+strings.Join(consent.APINames(), ", "))
	f.DurationVar(&expiresIn, "expires-in", defaultKeyLifetime, "lifetime of the key, e.g. 2160h for 90 days; 0 for a key that never expires (not recommended)")
	_ = cmd.MarkFlagRequired("workspace")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

// apiKeyJSON is the shape of one key in 'api-keys list --json'; times that
// are not set are null.
type apiKeyJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Scopes     []string   `json:"scopes"`
	DisplayID  string     `json:"display_id"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	Revoked    bool       `json:"revoked"`
}

// apiKeyTimeJSON is nil for the zero time, so that JSON shows null.
func apiKeyTimeJSON(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func (c *cli) apiKeysListCmd() *cobra.Command {
	var workspaceID string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List a workspace's API keys, newest first",
		Long: `List a workspace's API keys, newest first, revoked and expired ones
included. The keys themselves are never shown, only their display ids.
Last use is recorded by the server in batches, so it may lag a minute.`,
		Example:     `  nextoria-authz api-keys list --workspace WORKSPACE_ID --json`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{needsConfig: configData},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withStore(cmd.Context(), true, func(ctx context.Context, store *storage.Store) error {
				if _, err := store.GetWorkspace(ctx, workspaceID); errors.Is(err, storage.ErrNotFound) {
					return apiKeyWorkspaceError(workspaceID)
				} else if err != nil {
					return fmt.Errorf("look up workspace: %w", err)
				}
				list, err := store.ListAPIKeys(ctx, workspaceID)
				if err != nil {
					return fmt.Errorf("list API keys: %w", err)
				}
				if c.json {
					out := make([]apiKeyJSON, len(list))
					for i, k := range list {
						out[i] = apiKeyJSON{
							ID: k.ID, Name: k.Name, Scopes: nonNil(k.Scopes), DisplayID: k.DisplayID,
							CreatedAt: k.CreatedAt.UTC(), ExpiresAt: apiKeyTimeJSON(k.ExpiresAt),
							LastUsedAt: apiKeyTimeJSON(k.LastUsedAt), Revoked: !k.RevokedAt.IsZero(),
						}
					}
					return c.printJSON(out)
				}
				now := time.Now()
				tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tDISPLAY_ID\tSCOPES\tSTATUS\tCREATED\tEXPIRES\tLAST_USED")
				for _, k := range list {
					status := "active"
					switch {
					case !k.RevokedAt.IsZero():
						status = "revoked"
					case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
						status = "expired"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.DisplayID,
						strings.Join(k.Scopes, ","), status, apiKeyTimeCell(k.CreatedAt, "-"),
						apiKeyTimeCell(k.ExpiresAt, "never"), apiKeyTimeCell(k.LastUsedAt, "never"))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&workspaceID, "workspace", "", "`WORKSPACE_ID` whose keys to list (required)")
	_ = cmd.MarkFlagRequired("workspace")
	return cmd
}

// apiKeyTimeCell formats t for a table, or none for the zero time.
func apiKeyTimeCell(t time.Time, none string) string {
	if t.IsZero() {
		return none
	}
	return t.UTC().Format(time.DateTime)
}

func (c *cli) apiKeysRevokeCmd() *cobra.Command {
	var workspaceID, id string
	cmd := &cobra.Command{
		Use:   "revoke",
		Short: "Revoke an API key",
		Long: `Revoke an API key of a workspace. It stops working at once at the
authorization server; resource servers that cache introspection results
notice within their cache lifetime (10 seconds by default). Revoking a
revoked key again is not an error.`,
		Example:     `  nextoria-authz api-keys revoke --workspace WORKSPACE_ID --id KEY_ID`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{needsConfig: configData},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withStore(cmd.Context(), true, func(ctx context.Context, store *storage.Store) error {
				err := store.Audited(ctx, func(ctx context.Context) (storage.AuditEvent, error) {
					return c.operatorEvent(storage.AuditAPIKeyRevoked, workspaceID, storage.TargetAPIKey, id, nil),
						store.RevokeAPIKey(ctx, workspaceID, id)
				})
				if errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("workspace %q has no API key %q (see 'nextoria-authz api-keys list --workspace %s')", workspaceID, id, workspaceID)
				} else if err != nil {
					return fmt.Errorf("revoke API key: %w", err)
				}
				if c.json {
					return c.printJSON(map[string]any{"id": id, "revoked": true})
				}
				c.printf("revoked API key %s\n", id)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&workspaceID, "workspace", "", "`WORKSPACE_ID` the key belongs to (required)")
	cmd.Flags().StringVar(&id, "id", "", "`KEY_ID` to revoke, as shown by 'api-keys list' (required)")
	_ = cmd.MarkFlagRequired("workspace")
	_ = cmd.MarkFlagRequired("id")
	return cmd
}
