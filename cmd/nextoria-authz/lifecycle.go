package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nextoria/authz/authz"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
)

// systemKeys derives the purpose keys for commands that hash or seal secrets.
func (c *cli) systemKeys(why string) (secret.Keys, error) {
	keys, err := secret.DeriveKeys(c.cfg.Secrets.System)
	if err != nil {
		return secret.Keys{}, fmt.Errorf("%s needs secrets.system (or %s), the same value the server uses: %w",
			why, envName("secrets.system"), err)
	}
	return keys, nil
}

func (c *cli) resourceServersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "resource-servers",
		Short: "Manage the credentials resource servers use to introspect tokens",
	}
	cmd.AddCommand(c.resourceServersCreateCmd(), c.resourceServersListCmd())
	return cmd
}

func (c *cli) resourceServersCreateCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create introspection credentials for a resource server",
		Long: `Create a client_id and client_secret with which a resource server (an API
that accepts Nextoria access tokens and API keys) calls POST /v1/oauth/introspect
with HTTP Basic authentication.

The secret is printed once; only its keyed hash is stored.`,
		Example:     `  nextoria-authz resource-servers create --name "Hub REST API" --json`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{needsConfig: configData},
		RunE: func(cmd *cobra.Command, _ []string) error {
			name = strings.TrimSpace(name)
			if name == "" || len(name) > 100 {
				return fmt.Errorf("--name must be 1 to 100 characters")
			}
			keys, err := c.systemKeys("hashing the resource server's secret")
			if err != nil {
				return err
			}
			clientID := "rs_" + secret.HexToken(12)
			clientSecret := secret.Token()
			return c.withStore(cmd.Context(), true, func(ctx context.Context, store *storage.Store) error {
				if _, err := store.CreateResourceServer(ctx, clientID, name, secret.NewHasher(keys.SecretHash).Sum([]byte(clientSecret))); err != nil {
					return err
				}
				if c.json {
					return c.printJSON(map[string]string{"client_id": clientID, "client_secret": clientSecret})
				}
				c.printf("client_id:     %s\nclient_secret: %s\n\n", clientID, clientSecret)
				c.printf("The client secret is shown only this once; only its hash is stored.\n")
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "name of the resource server (required)")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func (c *cli) resourceServersListCmd() *cobra.Command {
	return &cobra.Command{
		Use:         "list",
		Short:       "List resource servers",
		Args:        cobra.NoArgs,
		Annotations: map[string]string{needsConfig: configData},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withStore(cmd.Context(), true, func(ctx context.Context, store *storage.Store) error {
				list, err := store.ListResourceServers(ctx)
				if err != nil {
					return err
				}
				if c.json {
					out := make([]map[string]any, 0, len(list))
					for _, rs := range list {
						out = append(out, map[string]any{"client_id": rs.ClientID, "name": rs.Name, "created_at": rs.CreatedAt.UTC()})
					}
					return c.printJSON(out)
				}
				tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "CLIENT_ID\tNAME\tCREATED")
				for _, rs := range list {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", rs.ClientID, rs.Name, rs.CreatedAt.UTC().Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}
}

func (c *cli) keysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage the keys that sign access tokens",
		Long: `Access tokens are ES256 JWTs. The server generates a signing key on first start
and keeps it sealed in the database; that first key signs at once. 'keys rotate'
adds a new key that is published in the JWKS at once and starts signing two
minutes later (the JWKS cache lifetime of one minute, plus the 30-second key
reload of running servers, plus 30 seconds of margin), so that no verifier
meets a kid it has not fetched. The previous key then retires: it stays in the
JWKS and keeps verifying until every token it signed has expired (the
access-token lifespan plus five minutes).`,
	}
	cmd.AddCommand(c.keysRotateCmd(), c.keysListCmd())
	return cmd
}

func (c *cli) keysRotateCmd() *cobra.Command {
	return &cobra.Command{
		Use:         "rotate",
		Short:       "Make new signing keys (ES256 and RS256) active",
		Args:        cobra.NoArgs,
		Annotations: map[string]string{needsConfig: configData},
		RunE: func(cmd *cobra.Command, _ []string) error {
			keys, err := c.systemKeys("sealing the new signing key")
			if err != nil {
				return err
			}
			return c.withStore(cmd.Context(), true, func(ctx context.Context, store *storage.Store) error {
				var rotated []authz.RotatedKey
				err := store.Audited(ctx, func(ctx context.Context) (storage.AuditEvent, error) {
					var err error
					rotated, err = authz.RotateKeys(ctx, store, keys.Seal, authz.KeyPublishAhead)
					if err != nil {
						return storage.AuditEvent{}, err
					}
					kids := make([]string, len(rotated))
					for i, k := range rotated {
						kids[i] = k.KID
					}
					return c.operatorEvent(storage.AuditSigningKeyRotated, "", storage.TargetSigningKey, rotated[0].KID,
						map[string]any{"kids": kids, "signs_from": rotated[0].ActivatesAt.UTC().Format(time.RFC3339)}), nil
				})
				if err != nil {
					return err
				}
				if c.json {
					// kid and activates_at name the access-token key (ES256);
					// keys lists every new key.
					list := make([]map[string]string, len(rotated))
					for i, k := range rotated {
						list[i] = map[string]string{"kid": k.KID, "alg": k.Alg,
							"activates_at": k.ActivatesAt.UTC().Truncate(time.Second).Format(time.RFC3339)}
					}
					return c.printJSON(map[string]any{"kid": list[0]["kid"], "activates_at": list[0]["activates_at"], "keys": list})
				}
				for _, k := range rotated {
					c.printf("New %s signing key %s: published now, signs from %s\n", k.Alg, k.KID,
						k.ActivatesAt.UTC().Truncate(time.Second).Format(time.RFC3339))
				}
				return nil
			})
		},
	}
}

func (c *cli) keysListCmd() *cobra.Command {
	return &cobra.Command{
		Use:         "list",
		Short:       "List signing keys and their state",
		Args:        cobra.NoArgs,
		Annotations: map[string]string{needsConfig: configData},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withStore(cmd.Context(), true, func(ctx context.Context, store *storage.Store) error {
				list, err := store.ListSigningKeys(ctx)
				if err != nil {
					return err
				}
				retain := c.cfg.OAuth.AccessTokenLifespan + authz.RetiredKeyGrace
				type row struct {
					KID         string     `json:"kid"`
					Alg         string     `json:"alg"`
					State       string     `json:"state"`
					CreatedAt   time.Time  `json:"created_at"`
					ActivatesAt time.Time  `json:"activates_at"`
					RetiredAt   *time.Time `json:"retired_at,omitempty"`
				}
				rows := make([]row, 0, len(list))
				now := time.Now()
				for _, k := range list {
					r := row{KID: k.KID, Alg: k.Alg, State: "active", CreatedAt: k.CreatedAt.UTC(), ActivatesAt: k.ActivatesAt.UTC()}
					if !k.RetiredAt.IsZero() {
						t := k.RetiredAt.UTC()
						r.RetiredAt = &t
					}
					switch {
					case k.ActivatesAt.After(now):
						r.State = "pending"
					case k.RetiredAt.IsZero() || k.RetiredAt.After(now):
						r.State = "active"
					case now.Sub(k.RetiredAt) > retain:
						r.State = "expired"
					default:
						r.State = "verifying"
					}
					rows = append(rows, r)
				}
				if c.json {
					return c.printJSON(rows)
				}
				tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tRETIRED")
				for _, r := range rows {
					retired := "-"
					if r.RetiredAt != nil {
						retired = r.RetiredAt.Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.KID, r.Alg, r.State, r.CreatedAt.Format(time.RFC3339), retired)
				}
				return tw.Flush()
			})
		},
	}
}
