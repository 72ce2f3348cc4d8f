package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nextoria/authz/apps"
	"github.com/nextoria/authz/consent"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
)

func (c *cli) appsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "apps",
		Short: "Manage OAuth apps",
	}
	cmd.AddCommand(c.appsCreateCmd(), c.appsListCmd(), c.appsUpdateCmd())
	return cmd
}

// appFlags maps apps.FieldErrors keys to the flags that set them.
var appFlags = map[string]string{
	apps.FieldName:                   "--name",
	apps.FieldRedirectURIs:           "--redirect-uri",
	apps.FieldScopes:                 "--scope",
	apps.FieldLogo:                   "--logo",
	apps.FieldHomepageURL:            "--homepage-url",
	apps.FieldPrivacyURL:             "--privacy-url",
	apps.FieldDescription:            "--description",
	apps.FieldIDTokenAlg:             "--id-token-alg",
	apps.FieldPostLogoutRedirectURIs: "--post-logout-redirect-uri",
}

func (c *cli) appsCreateCmd() *cobra.Command {
	var (
		name, logoPath, ownerEmail string
		redirectURIs, scopes       []string
		postLogoutURIs             []string
		public                     bool
		profile                    apps.Profile
		pkce, idTokenAlg           string
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Register an OAuth app and print its client_id and client secret",
		Long: `Register an OAuth app in the workspace of its owner.

The client secret is printed once and cannot be shown again: only its keyed
hash is stored. Hashing it needs secrets.system, the same value the server
uses. Public apps (--public: single-page and native apps) get no secret and
must use PKCE. Confidential apps must use PKCE too unless created with
--pkce=optional (RFC 9700 §2.1.1 recommends it for every client).`,
		Example: `  nextoria-authz apps create --name "Acme Sync" --owner ada@example.com \
      --redirect-uri https://acme.example/callback --scope projects:read --scope tasks:read
  nextoria-authz apps create ... --json   # {"client_id":"…","client_secret":"…"}`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{needsConfig: configData},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(scopes) == 0 {
				scopes = consent.Names()
			}
			optional, err := parsePKCEFlag(pkce)
			if err != nil {
				return err
			}
			if optional && public {
				return errors.New("--pkce=optional: public apps always use PKCE")
			}
			reg := apps.Registration{Name: name, RedirectURIs: redirectURIs, Scopes: scopes, Public: public, PKCEOptional: optional, Profile: profile,
				PostLogoutRedirectURIs: postLogoutURIs,
				IDTokenAlg:             idTokenAlg}
			if logoPath != "" {
				data, err := readLimited(logoPath, apps.MaxLogoBytes)
				if err != nil {
					return fmt.Errorf("--logo: %w", err)
				}
				reg.Logo = data
			}
			if err := flagErrors(apps.Validate(reg)); err != nil {
				return err
			}
			svc := apps.Service{}
			if !public {
				keys, err := secret.DeriveKeys(c.cfg.Secrets.System)
				if err != nil {
					return fmt.Errorf("a confidential app needs secrets.system (or %s), the same value the server uses, to hash its client secret: %w",
						envName("secrets.system"), err)
				}
				svc.Hasher = secret.NewHasher(keys.SecretHash)
			}
			return c.withStore(cmd.Context(), true, func(ctx context.Context, store *storage.Store) error {
				owner, err := store.GetUserByEmail(ctx, ownerEmail)
				if errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("--owner: no user with e-mail %q (create one with 'nextoria-authz users create')", ownerEmail)
				} else if err != nil {
					return fmt.Errorf("look up owner: %w", err)
				}
				reg.WorkspaceID, reg.OwnerID = owner.WorkspaceID, owner.ID
				svc.Store = store
				var (
					app          storage.App
					clientSecret string
				)
				err = store.Audited(ctx, func(ctx context.Context) (storage.AuditEvent, error) {
					var err error
					app, clientSecret, err = svc.Register(ctx, reg)
					return c.operatorEvent(storage.AuditAppCreated, app.WorkspaceID, storage.TargetApp, app.ClientID,
						map[string]any{"app_name": app.Name, "public": app.Public}), err
				})
				if err != nil {
					if ferr := flagErrors(asFieldErrors(err)); ferr != nil {
						return ferr
					}
					return err
				}
				if c.json {
					out := map[string]string{"client_id": app.ClientID}
					if clientSecret != "" {
						out["client_secret"] = clientSecret
					}
					return c.printJSON(out)
				}
				c.printf("client_id:     %s\n", app.ClientID)
				if clientSecret == "" {
					c.printf("client_secret: none (public app: use PKCE)\n")
					return nil
				}
				c.printf("client_secret: %s\n\n", clientSecret)
				c.printf("The client secret is shown only this once; only its hash is stored. Keep it somewhere safe now.\n")
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "app name shown on the consent screen (required)")
	f.StringArrayVar(&redirectURIs, "redirect-uri", nil, "redirect `URI` (repeatable; https, or http on 127.0.0.1 or [::1])")
	f.StringArrayVar(&postLogoutURIs, "post-logout-redirect-uri", nil, postLogoutFlagUsage)
	f.StringArrayVar(&scopes, "scope", nil, "`SCOPE` the app may request (repeatable; default: every scope: "+strings.Join(consent.Names(), ", ")+")")
	f.StringVar(&logoPath, "logo", "", "logo image `FILE` (PNG, JPEG or WebP, at most 256 KiB, 16x16 to 1024x1024 pixels)")
	f.BoolVar(&public, "public", false, "public client without a secret (single-page or native app)")
	f.StringVar(&profile.HomepageURL, "homepage-url", "", "the app's homepage `URL` (https), linked from the consent screen")
	f.StringVar(&profile.PrivacyURL, "privacy-url", "", "the app's privacy-policy `URL` (https), linked from the consent screen")
	f.StringVar(&profile.Description, "description", "", "one-line description shown on the consent screen (at most 140 characters)")
	f.StringVar(&pkce, "pkce", "required", "`required` or optional: whether a confidential app must send a PKCE code_challenge")
	f.StringVar(&idTokenAlg, "id-token-alg", storage.IDTokenRS256, "`RS256` or ES256: how the app's OpenID Connect ID tokens are signed")
	f.StringVar(&ownerEmail, "owner", "", "e-mail of the owning user; the app joins that user's workspace (required)")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("redirect-uri")
	_ = cmd.MarkFlagRequired("owner")
	return cmd
}

// asFieldErrors returns the FieldErrors in err's chain, or nil.
func asFieldErrors(err error) apps.FieldErrors {
	var fe apps.FieldErrors
	if errors.As(err, &fe) {
		return fe
	}
	return nil
}

// flagErrors restates field errors in terms of the command's flags.
func flagErrors(fe apps.FieldErrors) error {
	if len(fe) == 0 {
		return nil
	}
	fields := make([]string, 0, len(fe))
	for k := range fe {
		fields = append(fields, k)
	}
	sort.Strings(fields)
	lines := make([]string, len(fields))
	for i, k := range fields {
		flag := appFlags[k]
		if flag == "" {
			flag = k
		}
		lines[i] = flag + ": " + fe[k]
	}
	return fmt.Errorf("invalid app:\n  %s", strings.Join(lines, "\n  "))
}

// readLimited reads a file, refusing one longer than limit bytes without
// reading it whole.
func readLimited(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(data) > limit {
		return nil, fmt.Errorf("%s is larger than %d KiB", path, limit>>10)
	}
	return data, nil
}

// postLogoutFlagUsage describes --post-logout-redirect-uri.
const postLogoutFlagUsage = "`URI` the browser may return to after a sign-out the app asks for (OpenID Connect RP-Initiated Logout; repeatable; exact match, same rules as --redirect-uri)"

// appJSON is the shape of one app in 'apps list --json'.
type appJSON struct {
	ClientID     string   `json:"client_id"`
	Name         string   `json:"name"`
	RedirectURIs []string `json:"redirect_uris"`
	// PostLogoutRedirectURIs: [] when none.
	PostLogoutRedirectURIs []string  `json:"post_logout_redirect_uris"`
	Scopes                 []string  `json:"scopes"`
	Public                 bool      `json:"public"`
	PKCE                   string    `json:"pkce"`
	HasLogo                bool      `json:"has_logo"`
	WorkspaceID            string    `json:"workspace_id"`
	OwnerID                string    `json:"owner_id"`
	CreatedAt              time.Time `json:"created_at"`
}

func (c *cli) appsListCmd() *cobra.Command {
	var workspaceID string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List OAuth apps, newest first",
		Example: `  nextoria-authz apps list
  nextoria-authz apps list --workspace WORKSPACE_ID --json`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{needsConfig: configData},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withStore(cmd.Context(), true, func(ctx context.Context, store *storage.Store) error {
				list, err := store.ListApps(ctx, workspaceID)
				if err != nil {
					return fmt.Errorf("list apps: %w", err)
				}
				if c.json {
					out := make([]appJSON, len(list))
					for i, a := range list {
						out[i] = appJSON{
							ClientID: a.ClientID, Name: a.Name, RedirectURIs: nonNil(a.RedirectURIs), Scopes: nonNil(a.Scopes),
							PostLogoutRedirectURIs: nonNil(a.PostLogoutRedirectURIs),
							Public:                 a.Public, PKCE: pkceLabel(a), HasLogo: a.HasLogo, WorkspaceID: a.WorkspaceID, OwnerID: a.OwnerID,
							CreatedAt: a.CreatedAt.UTC(),
						}
					}
					return c.printJSON(out)
				}
				tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "CLIENT_ID\tNAME\tREDIRECT_URIS\tSCOPES\tPUBLIC\tCREATED")
				for _, a := range list {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%s\n", a.ClientID, a.Name,
						strings.Join(a.RedirectURIs, ","), strings.Join(a.Scopes, ","), a.Public,
						a.CreatedAt.UTC().Format(time.DateTime))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&workspaceID, "workspace", "", "list only the apps of `WORKSPACE_ID`")
	return cmd
}

// updateFlags are the flags of 'apps update' that change something; --pkce
// comes last.
var updateFlags = []string{"name", "homepage-url", "privacy-url", "description", "id-token-alg", "post-logout-redirect-uri", "pkce"}

func (c *cli) appsUpdateCmd() *cobra.Command {
	var (
		name, pkce, idTokenAlg string
		profile                apps.Profile
		postLogoutURIs         []string
	)
	cmd := &cobra.Command{
		Use:   "update CLIENT_ID [--name NAME] [--homepage-url URL] [--privacy-url URL] [--description TEXT] [--id-token-alg RS256|ES256] [--post-logout-redirect-uri URI ...] [--pkce required|optional]",
		Short: "Change an app's name, profile, ID token algorithm, post-logout redirect URIs or PKCE rule",
		Long: `Change an app. Only the flags given change anything; the rest of the app
stays as it is. An empty value clears an optional field: --description ""
removes the description. --post-logout-redirect-uri replaces the app's
post-logout redirect URIs with the ones given (repeat it for several);
--post-logout-redirect-uri "" removes them all.

New apps must send a PKCE code_challenge (S256); confidential apps
registered before that rule start with --pkce=optional so that they keep
working. Turn it to required once the app sends PKCE. Public apps always use
PKCE.`,
		Example: `  nextoria-authz apps update 3f2c9a1b7e4d5c6a8b9d0e1f --pkce=required
  nextoria-authz apps update 3f2c9a1b7e4d5c6a8b9d0e1f --description "Syncs Acme projects" \
      --homepage-url https://acme.example --privacy-url https://acme.example/privacy
  nextoria-authz apps update 3f2c9a1b7e4d5c6a8b9d0e1f --description ""   # clears it`,
		Args:        cobra.ExactArgs(1),
		Annotations: map[string]string{needsConfig: configData},
		RunE: func(cmd *cobra.Command, args []string) error {
			changed := cmd.Flags().Changed
			if !slices.ContainsFunc(updateFlags, changed) {
				return fmt.Errorf("nothing to change: give at least one of --%s", strings.Join(updateFlags, ", --"))
			}
			var optional *bool
			if changed("pkce") {
				o, err := parsePKCEFlag(pkce)
				if err != nil {
					return err
				}
				optional = &o
			}
			return c.withStore(cmd.Context(), true, func(ctx context.Context, store *storage.Store) error {
				app, err := store.GetApp(ctx, args[0])
				if errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("no app with client_id %q", args[0])
				} else if err != nil {
					return err
				}
				if app.Public && optional != nil && *optional {
					return errors.New("--pkce=optional: public apps always use PKCE")
				}
				if !slices.ContainsFunc(updateFlags[:len(updateFlags)-1], changed) {
					// Only the PKCE rule: it is set alone, so that an app
					// registered under older rules can still be switched.
					if app, err = store.SetAppPKCEOptional(ctx, app.ClientID, *optional); err != nil {
						return err
					}
					return c.printUpdated(app)
				}
				upd := apps.Update{
					Name:         app.Name,
					RedirectURIs: app.RedirectURIs,
					Scopes:       app.Scopes,

					PostLogoutRedirectURIs: app.PostLogoutRedirectURIs,
					Profile:                apps.Profile{HomepageURL: app.HomepageURL, PrivacyURL: app.PrivacyURL, Description: app.Description},
					PKCEOptional:           optional,
				}
				if changed("name") {
					upd.Name = name
				}
				if changed("homepage-url") {
					upd.Profile.HomepageURL = profile.HomepageURL
				}
				if changed("privacy-url") {
					upd.Profile.PrivacyURL = profile.PrivacyURL
				}
				if changed("description") {
					upd.Profile.Description = profile.Description
				}
				if changed("post-logout-redirect-uri") {
					upd.PostLogoutRedirectURIs = slices.DeleteFunc(slices.Clone(postLogoutURIs), func(u string) bool { return u == "" })
				}
				if changed("id-token-alg") {
					upd.IDTokenAlg = idTokenAlg
				}
				err = store.Audited(ctx, func(ctx context.Context) (storage.AuditEvent, error) {
					var err error
					app, err = apps.Service{Store: store}.Update(ctx, app.ClientID, upd)
					return c.operatorEvent(storage.AuditAppUpdated, app.WorkspaceID, storage.TargetApp, app.ClientID,
						map[string]any{"app_name": app.Name}), err
				})
				if err != nil {
					if ferr := flagErrors(asFieldErrors(err)); ferr != nil {
						return ferr
					}
					return err
				}
				return c.printUpdated(app)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "new app name shown on the consent screen")
	f.StringVar(&profile.HomepageURL, "homepage-url", "", "the app's homepage `URL` (https); \"\" clears it")
	f.StringVar(&profile.PrivacyURL, "privacy-url", "", "the app's privacy-policy `URL` (https); \"\" clears it")
	f.StringVar(&profile.Description, "description", "", "one-line description (at most 140 characters); \"\" clears it")
	f.StringArrayVar(&postLogoutURIs, "post-logout-redirect-uri", nil, postLogoutFlagUsage+`; replaces the current ones, "" removes them all`)
	f.StringVar(&pkce, "pkce", "", "`required` or optional")
	f.StringVar(&idTokenAlg, "id-token-alg", "", "`RS256` or ES256: how the app's OpenID Connect ID tokens are signed")
	return cmd
}

// printUpdated prints an app after 'apps update'.
func (c *cli) printUpdated(app storage.App) error {
	if c.json {
		return c.printJSON(map[string]any{
			"client_id": app.ClientID, "name": app.Name, "pkce": pkceLabel(app), "id_token_alg": app.IDTokenAlg,
			"homepage_url": app.HomepageURL, "privacy_url": app.PrivacyURL, "description": app.Description,
			"post_logout_redirect_uris": nonNil(app.PostLogoutRedirectURIs),
		})
	}
	c.printf("%s: %s, PKCE %s\n", app.ClientID, app.Name, pkceLabel(app))
	return nil
}

// parsePKCEFlag reads --pkce: it reports whether PKCE is optional.
func parsePKCEFlag(v string) (bool, error) {
	switch v {
	case "required":
		return false, nil
	case "optional":
		return true, nil
	}
	return false, fmt.Errorf("--pkce: %q: want required or optional", v)
}

// pkceLabel is an app's PKCE rule as the CLI shows it.
func pkceLabel(a storage.App) string {
	if a.PKCEOptional && !a.Public {
		return "optional"
	}
	return "required"
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
