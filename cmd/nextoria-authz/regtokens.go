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

	dcr "github.com/nextoria/authz/registration"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
)

func (c *cli) registrationTokensCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registration-tokens",
		Short: "Manage initial access tokens for client registration by API (RFC 7591)",
	}
	cmd.AddCommand(c.registrationTokensCreateCmd(), c.registrationTokensListCmd(), c.registrationTokensRevokeCmd())
	return cmd
}

// registrationTokenFlags maps dcr.FieldErrors keys to the flags that set them.
var registrationTokenFlags = map[string]string{
	dcr.FieldName:      "--name",
	dcr.FieldExpiresIn: "--expires-in",
}

func (c *cli) registrationTokensCreateCmd() *cobra.Command {
	var (
		workspaceID, name string
		expiresIn         time.Duration
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create an initial access token for a workspace and print it",
		Long: `Create an initial access token: whoever holds it may register OAuth apps
into the workspace at POST /v1/oauth/register (RFC 7591) until it expires
or is revoked. The token is printed once; only its keyed hash is stored, so
the command needs secrets.system, the same value the server uses.`,
		Example: `  nextoria-authz registration-tokens create --workspace WORKSPACE_ID --name "Partner marketplace" --expires-in 720h
  nextoria-authz registration-tokens create ... --json   # {"id":"…","token":"nxr_…"}`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{needsConfig: configData},
		RunE: func(cmd *cobra.Command, _ []string) error {
			keys, err := secret.DeriveKeys(c.cfg.Secrets.System)
			if err != nil {
				return fmt.Errorf("a registration token needs secrets.system (or %s), the same value the server uses, to hash it: %w",
					envName("secrets.system"), err)
			}
			if expiresIn <= 0 {
				return errors.New("--expires-in: a registration token must expire; give a positive duration such as 720h")
			}
			return c.withStore(cmd.Context(), true, func(ctx context.Context, store *storage.Store) error {
				svc := dcr.Tokens{Store: store, Hasher: secret.NewHasher(keys.SecretHash)}
				t, raw, err := svc.Create(ctx, workspaceID, "", name, expiresIn)
				var fe dcr.FieldErrors
				switch {
				case errors.Is(err, storage.ErrNotFound):
					return apiKeyWorkspaceError(workspaceID)
				case errors.As(err, &fe):
					lines := make([]string, 0, len(fe))
					for _, k := range slices.Sorted(maps.Keys(fe)) {
						lines = append(lines, registrationTokenFlags[k]+": "+fe[k])
					}
					return fmt.Errorf("invalid registration token:\n  %s", strings.Join(lines, "\n  "))
				case err != nil:
					return err
				}
				if c.json {
					return c.printJSON(map[string]string{"id": t.ID, "token": raw})
				}
				c.printf("id:         %s\n", t.ID)
				c.printf("token:      %s\n", raw)
				c.printf("display_id: %s\n", t.DisplayID)
				c.printf("expires:    %s\n\n", t.ExpiresAt.UTC().Format(time.DateTime+" MST"))
				c.printf("The token is shown only this once; only its hash is stored. Keep it somewhere safe now.\n")
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&workspaceID, "workspace", "", "`WORKSPACE_ID` that registered apps join (required)")
	f.StringVar(&name, "name", "", `name telling who the token is for, e.g. "Partner marketplace" (required)`)
	f.DurationVar(&expiresIn, "expires-in", dcr.DefaultTokenLifetime, "lifetime of the token, e.g. 720h for 30 days (at most 8784h)")
	_ = cmd.MarkFlagRequired("workspace")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

// registrationTokenJSON is one token in 'registration-tokens list --json';
// times that are not set are null. The token itself is never listed.
type registrationTokenJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	DisplayID  string     `json:"display_id"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	Revoked    bool       `json:"revoked"`
}

func (c *cli) registrationTokensListCmd() *cobra.Command {
	var workspaceID string
	cmd := &cobra.Command{
		Use:         "list",
		Short:       "List a workspace's registration tokens, newest first",
		Long:        `List a workspace's initial access tokens, newest first, revoked and expired ones included. The tokens themselves are never shown, only their display ids.`,
		Example:     `  nextoria-authz registration-tokens list --workspace WORKSPACE_ID --json`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{needsConfig: configData},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withStore(cmd.Context(), true, func(ctx context.Context, store *storage.Store) error {
				if _, err := store.GetWorkspace(ctx, workspaceID); errors.Is(err, storage.ErrNotFound) {
					return apiKeyWorkspaceError(workspaceID)
				} else if err != nil {
					return fmt.Errorf("look up workspace: %w", err)
				}
				list, err := store.ListRegistrationTokens(ctx, workspaceID)
				if err != nil {
					return fmt.Errorf("list registration tokens: %w", err)
				}
				if c.json {
					out := make([]registrationTokenJSON, len(list))
					for i, t := range list {
						out[i] = registrationTokenJSON{
							ID: t.ID, Name: t.Name, DisplayID: t.DisplayID, CreatedAt: t.CreatedAt.UTC(),
							ExpiresAt: apiKeyTimeJSON(t.ExpiresAt), LastUsedAt: apiKeyTimeJSON(t.LastUsedAt),
							Revoked: !t.RevokedAt.IsZero(),
						}
					}
					return c.printJSON(out)
				}
				now := time.Now()
				tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tDISPLAY_ID\tSTATUS\tCREATED\tEXPIRES\tLAST_USED")
				for _, t := range list {
					status := "active"
					switch {
					case !t.RevokedAt.IsZero():
						status = "revoked"
					case !t.Active(now):
						status = "expired"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.DisplayID, status,
						apiKeyTimeCell(t.CreatedAt, "-"), apiKeyTimeCell(t.ExpiresAt, "never"), apiKeyTimeCell(t.LastUsedAt, "never"))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&workspaceID, "workspace", "", "`WORKSPACE_ID` whose tokens to list (required)")
	_ = cmd.MarkFlagRequired("workspace")
	return cmd
}

func (c *cli) registrationTokensRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke TOKEN_ID",
		Short: "Revoke a registration token",
		Long: `Revoke an initial access token at once: registrations with it are refused
from then on. Apps already registered with it keep working. Revoking a
revoked token again is not an error.`,
		Example:     `  nextoria-authz registration-tokens revoke TOKEN_ID`,
		Args:        cobra.ExactArgs(1),
		Annotations: map[string]string{needsConfig: configData},
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			return c.withStore(cmd.Context(), true, func(ctx context.Context, store *storage.Store) error {
				_, err := store.RevokeRegistrationToken(ctx, "", id)
				if errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("there is no registration token %q (see 'nextoria-authz registration-tokens list --workspace WORKSPACE_ID')", id)
				} else if err != nil {
					return fmt.Errorf("revoke registration token: %w", err)
				}
				if c.json {
					return c.printJSON(map[string]any{"id": id, "revoked": true})
				}
				c.printf("revoked registration token %s\n", id)
				return nil
			})
		},
	}
}
