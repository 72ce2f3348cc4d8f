package registration

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nextoria/authz/apps"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
)

// Clients registers, reads, replaces and deletes clients registered by API.
type Clients struct {
	Store *storage.Store
	// Apps validates and stores the app behind each client.
	Apps apps.Service
	// Hasher keys the stored hash of registration access tokens and checks
	// a client_secret sent with an update.
	Hasher *secret.Hasher
	// Logos fetches logo_uri; nil refuses every logo_uri.
	Logos *LogoFetcher
}

// Client is a registered client as RFC 7591 §3.2.1 and RFC 7592 §3 answer
// it: the metadata in force plus the credentials. ClientSecret and
// RegistrationAccessToken are set only when they were just issued.
type Client struct {
	Metadata
	ClientIDIssuedAt        int64  `json:"client_id_issued_at"`
	ClientSecretExpiresAt   *int64 `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri"`
}

// Owner says where a registration lands: the workspace, the registering
// user ("" for none) and the initial access token ("" for open registration).
type Owner struct {
	WorkspaceID string
	UserID      string
	TokenID     string
}

// ErrUnauthorized means the registration access token is missing, wrong, or
// the client does not exist or was not registered by API (RFC 7592 §2 gives
// all of these the same 401).
var ErrUnauthorized = errors.New("registration: invalid registration access token")

// prepared is a validated request, with the logo already fetched.
type prepared struct {
	reg    apps.Registration
	scopes []string
}

// prepare validates m and fetches its logo; nothing is written. The error is
// an *Error for bad metadata.
func (c Clients) prepare(ctx context.Context, m *Metadata) (prepared, error) {
	scopes, err := m.normalize()
	if err != nil {
		return prepared{}, err
	}
	reg := apps.Registration{
		Name:         m.ClientName,
		RedirectURIs: m.RedirectURIs,
		Scopes:       scopes,
		Public:       m.TokenEndpointAuthMethod == AuthNone,
		Profile:      apps.Profile{HomepageURL: m.ClientURI, PrivacyURL: m.PolicyURI},
		IDTokenAlg:   m.IDTokenSignedResponseAlg,

		PostLogoutRedirectURIs: m.PostLogoutRedirectURIs,
	}
	// Check everything else before spending a fetch on the logo.
	if fe := apps.Validate(reg); fe != nil {
		return prepared{}, fromFieldErrors(fe)
	}
	return prepared{reg: reg, scopes: scopes}, nil
}

// fetchLogo fetches m.LogoURI into p.
func (c Clients) fetchLogo(ctx context.Context, m Metadata, p *prepared) error {
	if m.LogoURI == "" {
		return nil
	}
	if len(m.LogoURI) > apps.MaxProfileURLLen {
		return metadataError("logo_uri must be at most %d characters.", apps.MaxProfileURLLen)
	}
	if c.Logos == nil {
		return metadataError("logo_uri is not accepted by this server.")
	}
	data, err := c.Logos.Fetch(ctx, m.LogoURI)
	if err != nil {
		return metadataError("logo_uri %s.", err)
	}
	p.reg.Logo = data
	return nil
}

// Register registers a client into owner's workspace, in one transaction:
// the app, its logo and its registration are stored together or not at all.
// issuer is the server's public URL, for registration_client_uri.
func (c Clients) Register(ctx context.Context, issuer string, owner Owner, m Metadata) (Client, error) {
	m.ClientID, m.ClientSecret = "", ""
	p, err := c.prepare(ctx, &m)
	if err != nil {
		return Client{}, err
	}
	if err := c.fetchLogo(ctx, m, &p); err != nil {
		return Client{}, err
	}
	p.reg.WorkspaceID, p.reg.OwnerID = owner.WorkspaceID, owner.UserID
	rat, err := AccessTokenFormat.New()
	if err != nil {
		return Client{}, err
	}
	var (
		app          storage.App
		clientSecret string
	)
	err = c.inTx(ctx, func(ctx context.Context) error {
		var err error
		app, clientSecret, err = c.Apps.Register(ctx, p.reg)
		if err != nil {
			return err
		}
		if err := c.Store.CreateClientRegistration(ctx, storage.ClientRegistration{
			ClientID:                app.ClientID,
			AccessTokenHash:         c.Hasher.Sum([]byte(rat)),
			TokenEndpointAuthMethod: m.TokenEndpointAuthMethod,
			LogoURI:                 m.LogoURI,
			RegistrationTokenID:     owner.TokenID,
		}); err != nil {
			return err
		}
		if owner.TokenID != "" {
			if err := c.Store.TouchRegistrationToken(ctx, owner.TokenID); err != nil {
				return err
			}
		}
		return c.Store.RecordAudit(ctx, createdEvent(owner, app))
	})
	if err != nil {
		return Client{}, c.mapAppError(err)
	}
	out := answer(issuer, app, m.TokenEndpointAuthMethod, m.LogoURI)
	out.ClientSecret = clientSecret
	out.RegistrationAccessToken = rat
	return out, nil
}

// mapAppError turns apps' validation errors into RFC 7591 errors.
func (c Clients) mapAppError(err error) error {
	var fe apps.FieldErrors
	if errors.As(err, &fe) {
		return fromFieldErrors(fe)
	}
	if errors.Is(err, apps.ErrLogoBusy) {
		return metadataError("logo_uri could not be processed now; try again in a few seconds.")
	}
	return err
}

// inTx runs fn in one transaction.
func (c Clients) inTx(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	ctx, err = c.Store.BeginTX(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if rbErr := c.Store.Rollback(ctx); rbErr != nil && err == nil {
			err = rbErr
		}
	}()
	if err := fn(ctx); err != nil {
		return err
	}
	return c.Store.Commit(ctx)
}

// auditVia marks the audit events of changes made through the registration
// API, as opposed to the settings pages or the command line.
const auditVia = "registration_api"

// createdEvent is the audit event of app's registration by owner: the
// initial access token is the actor (its id, never the token); under open
// registration, the client itself.
func createdEvent(owner Owner, app storage.App) storage.AuditEvent {
	ev := clientEvent(storage.AuditAppCreated, app)
	ev.Details["public"] = app.Public
	if owner.TokenID != "" {
		ev.ActorKind, ev.ActorID = storage.ActorRegistrationToken, owner.TokenID
	} else {
		ev.Details["open_registration"] = true
	}
	return ev
}

// clientEvent is the audit event of a change to app made by the client
// through RFC 7592 (with its registration access token), seen by the app's
// workspace. The client address and User-Agent come from the request
// (storage.WithRequestSource).
func clientEvent(action string, app storage.App) storage.AuditEvent {
	return storage.AuditEvent{
		WorkspaceID: app.WorkspaceID,
		ActorKind:   storage.ActorClient,
		ActorID:     app.ClientID,
		Action:      action,
		TargetKind:  storage.TargetApp,
		TargetID:    app.ClientID,
		Details:     map[string]any{"app_name": app.Name, "via": auditVia},
	}
}

// answer is the metadata in force for app.
func answer(issuer string, app storage.App, authMethod, logoURI string) Client {
	out := Client{
		Metadata: Metadata{
			ClientID:                 app.ClientID,
			ClientName:               app.Name,
			RedirectURIs:             app.RedirectURIs,
			TokenEndpointAuthMethod:  authMethod,
			GrantTypes:               supportedGrantTypes,
			ResponseTypes:            supportedResponseTypes,
			Scope:                    strings.Join(app.Scopes, " "),
			ClientURI:                app.HomepageURL,
			PolicyURI:                app.PrivacyURL,
			LogoURI:                  logoURI,
			PostLogoutRedirectURIs:   app.PostLogoutRedirectURIs,
			IDTokenSignedResponseAlg: idTokenAlg(app),
		},
		ClientIDIssuedAt:      app.CreatedAt.Unix(),
		RegistrationClientURI: issuer + Path + "/" + app.ClientID,
	}
	if !app.Public {
		never := int64(0)
		out.ClientSecretExpiresAt = &never
	}
	return out
}

// idTokenAlg is the algorithm of app's ID tokens; apps without one use RS256.
func idTokenAlg(app storage.App) string {
	if app.IDTokenAlg == "" {
		return storage.IDTokenRS256
	}
	return app.IDTokenAlg
}

// authorize checks the registration access token of clientID in constant
// time and returns the app and its registration; ErrUnauthorized otherwise.
func (c Clients) authorize(ctx context.Context, clientID, rat string) (storage.App, storage.ClientRegistration, error) {
	if !apps.ValidClientID(clientID) {
		return storage.App{}, storage.ClientRegistration{}, ErrUnauthorized
	}
	reg, err := c.Store.GetClientRegistration(ctx, clientID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return storage.App{}, storage.ClientRegistration{}, ErrUnauthorized
	case err != nil:
		return storage.App{}, storage.ClientRegistration{}, err
	}
	if _, perr := AccessTokenFormat.Parse(rat); perr != nil || c.Hasher.Compare(ctx, reg.AccessTokenHash, []byte(rat)) != nil {
		return storage.App{}, storage.ClientRegistration{}, ErrUnauthorized
	}
	app, err := c.Store.GetApp(ctx, clientID)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.App{}, storage.ClientRegistration{}, ErrUnauthorized
	}
	return app, reg, err
}

// Read returns the registration of clientID (RFC 7592 §2.1), without
// secrets: they are stored only hashed.
func (c Clients) Read(ctx context.Context, issuer, clientID, rat string) (Client, error) {
	app, reg, err := c.authorize(ctx, clientID, rat)
	if err != nil {
		return Client{}, err
	}
	return answer(issuer, app, reg.TokenEndpointAuthMethod, reg.LogoURI), nil
}

// Update replaces the metadata of clientID (RFC 7592 §2.2): fields left out
// go back to their defaults, as at registration. The registration access
// token is rotated: the answer carries the new one and the old one stops
// working. The client secret is unchanged (and never answered again); a
// client_secret sent must be the current one. A change of logo_uri fetches
// the new logo; the same logo_uri keeps the stored logo; none removes it.
// Redirect URIs apply from the next authorization request.
func (c Clients) Update(ctx context.Context, issuer, clientID, rat string, m Metadata) (Client, error) {
	app, reg, err := c.authorize(ctx, clientID, rat)
	if err != nil {
		return Client{}, err
	}
	if m.ClientID != clientID {
		return Client{}, metadataError("client_id must be sent and be the client_id of this registration.")
	}
	if m.ClientSecret != "" && (app.Public || c.Hasher.Compare(ctx, app.SecretHash, []byte(m.ClientSecret)) != nil) {
		return Client{}, metadataError("client_secret is not this client's current secret; leave it out to keep the secret.")
	}
	m.ClientID, m.ClientSecret = "", ""
	p, err := c.prepare(ctx, &m)
	if err != nil {
		return Client{}, err
	}
	if p.reg.Public != app.Public {
		return Client{}, metadataError("token_endpoint_auth_method cannot change between none (a public client) and a client secret; register a new client instead.")
	}
	removeLogo := m.LogoURI == "" && app.HasLogo
	if m.LogoURI != "" && m.LogoURI != reg.LogoURI {
		if err := c.fetchLogo(ctx, m, &p); err != nil {
			return Client{}, err
		}
	}
	newRAT, err := AccessTokenFormat.New()
	if err != nil {
		return Client{}, err
	}
	err = c.inTx(ctx, func(ctx context.Context) error {
		var err error
		app, err = c.Apps.Update(ctx, clientID, apps.Update{
			Name:         p.reg.Name,
			RedirectURIs: p.reg.RedirectURIs,
			Scopes:       p.reg.Scopes,
			Logo:         p.reg.Logo,
			RemoveLogo:   removeLogo,
			Profile:      apps.Profile{HomepageURL: m.ClientURI, PrivacyURL: m.PolicyURI, Description: app.Description},
			IDTokenAlg:   p.reg.IDTokenAlg,

			PostLogoutRedirectURIs: p.reg.PostLogoutRedirectURIs,
		})
		if err != nil {
			return err
		}
		reg.AccessTokenHash = c.Hasher.Sum([]byte(newRAT))
		reg.TokenEndpointAuthMethod = m.TokenEndpointAuthMethod
		reg.LogoURI = m.LogoURI
		if err := c.Store.UpdateClientRegistration(ctx, reg); err != nil {
			return err
		}
		return c.Store.RecordAudit(ctx, clientEvent(storage.AuditAppUpdated, app))
	})
	if errors.Is(err, storage.ErrNotFound) {
		return Client{}, ErrUnauthorized // deleted meanwhile
	}
	if err != nil {
		return Client{}, c.mapAppError(err)
	}
	out := answer(issuer, app, reg.TokenEndpointAuthMethod, reg.LogoURI)
	out.RegistrationAccessToken = newRAT
	return out, nil
}

// Delete deletes the client (RFC 7592 §2.3) as deleting the app in the
// settings does: its codes, tokens and consents go with it, so every token
// it was issued stops working at once.
func (c Clients) Delete(ctx context.Context, clientID, rat string) error {
	app, _, err := c.authorize(ctx, clientID, rat)
	if err != nil {
		return err
	}
	err = c.Store.Audited(ctx, func(ctx context.Context) (storage.AuditEvent, error) {
		return clientEvent(storage.AuditAppDeleted, app), c.Apps.Delete(ctx, clientID)
	})
	if errors.Is(err, storage.ErrNotFound) {
		return ErrUnauthorized
	}
	if err != nil {
		return fmt.Errorf("registration: delete %q: %w", clientID, err)
	}
	return nil
}
