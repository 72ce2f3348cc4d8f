package seedrows

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/nextoria/authz/authz"
)

// The kinds of token rows.
const (
	kindExpiredAccess  = "expired-access"
	kindLiveAccess     = "live-access"
	kindRotatedRefresh = "rotated-refresh"
	kindLiveRefresh    = "live-refresh"
	kindCode           = "code"
	kindPKCE           = "pkce"
	kindOIDC           = "oidc"
)

// pendingGrants numbers the grants of codes, PKCE and OpenID Connect
// sessions apart from the live and the dead ones.
const pendingGrants = int64(1) << 40

var (
	sessionColumns = []string{
		"signature", "request_id", "requested_at", "client_id", "subject", "scopes", "granted_scopes",
		"requested_audience", "granted_audience", "form_data", "session_data", "active", "expires_at",
	}
	refreshColumns = append(append([]string(nil), sessionColumns...), "access_token_signature", "first_used_at")
)

// template is what every row of a kind shares: its table, and the form and
// session data the store itself wrote for a real request of that kind.
type template struct {
	table   string
	columns []string
	form    string
	session []byte
}

// encodeTemplates stores one real request of every kind through the store
// (the code path the server uses), with an authz.Session as the server fills
// it, reads back the form_data and session_data the store wrote, and deletes
// those rows. Every seeded row of the kind reuses them: however the store
// encodes sessions (JSON today), the seeded rows are encoded the same way.
// The session's subject and expiry are those of the template, not of each
// row; nothing reads a seeded row's session but a decoder, and the columns
// the queries filter on (subject, client_id, expires_at, ...) are per row.
func (s *seeder) encodeTemplates(ctx context.Context) error {
	client, err := s.store.GetClient(ctx, s.apps[0])
	if err != nil {
		return err
	}
	now := s.now
	newRequest := func(kind string, form url.Values, openid bool) *fosite.Request {
		sess := &authz.Session{
			Subject: s.users[0], Username: "seed-user@seed.example", WorkspaceID: s.workspaces[0],
			ClientID: s.apps[0], AuthTime: now.Add(-time.Hour), GrantedAt: now.Add(-time.Hour),
			JTI: s.requestID(-1), IssuedAt: now,
		}
		sess.SetExpiresAt(fosite.AuthorizeCode, now.Add(time.Minute))
		sess.SetExpiresAt(fosite.AccessToken, now.Add(time.Hour))
		sess.SetExpiresAt(fosite.RefreshToken, now.Add(30*24*time.Hour))
		if openid {
			sess.IDClaims = &jwt.IDTokenClaims{
				Subject: s.users[0], AuthTime: now.Add(-time.Hour).Truncate(time.Second),
				RequestedAt: now.Truncate(time.Second),
				Extra: map[string]any{
					"sid": "8c2f5d0b6a4e4f1c9d3b7a5e2f1c0d9b", "name": "Seed user",
					"email": "seed-user@seed.example", "email_verified": true,
				},
			}
		}
		r := fosite.NewRequest()
		r.ID = "seedrows-" + s.tag + "-" + kind
		r.RequestedAt = now
		r.Client = client
		r.Session = sess
		r.Form = form
		for _, sc := range []string{"openid", "profile", "projects:read", "tasks:read"} {
			r.AppendRequestedScope(sc)
			r.GrantScope(sc)
		}
		r.AppendRequestedAudience(s.opts.Audience)
		r.GrantAudience(s.opts.Audience)
		return r
	}
	authorizeForm := url.Values{
		"client_id": {s.apps[0]}, "response_type": {"code"}, "redirect_uri": {"https://app1.seed.example/callback"},
		"scope": {"openid profile projects:read tasks:read"}, "state": {"af0ifjsldkj-Qmd3fJ7vZ"},
		"nonce": {"n-0S6_WzA2Mj"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
		"code_challenge_method": {"S256"},
	}
	tokenForm := url.Values{"grant_type": {"refresh_token"}}
	kinds := []struct {
		kind, table string
		form        url.Values
		create      func(ctx context.Context, sig string, r fosite.Requester) error
	}{
		{kindExpiredAccess, "oauth_access_tokens", tokenForm, s.store.CreateAccessTokenSession},
		{kindLiveAccess, "oauth_access_tokens", tokenForm, s.store.CreateAccessTokenSession},
		{kindRotatedRefresh, "oauth_refresh_tokens", tokenForm, func(ctx context.Context, sig string, r fosite.Requester) error {
			return s.store.CreateRefreshTokenSession(ctx, sig, sig+".at", r)
		}},
		{kindLiveRefresh, "oauth_refresh_tokens", tokenForm, func(ctx context.Context, sig string, r fosite.Requester) error {
			return s.store.CreateRefreshTokenSession(ctx, sig, sig+".at", r)
		}},
		{kindCode, "oauth_codes", authorizeForm, s.store.CreateAuthorizeCodeSession},
		{kindPKCE, "oauth_pkce", authorizeForm, s.store.CreatePKCERequestSession},
		{kindOIDC, "oauth_oidc_sessions", authorizeForm, s.store.CreateOpenIDConnectSession},
	}
	s.tpl = make(map[string]template, len(kinds))
	for _, k := range kinds {
		r := newRequest(k.kind, k.form, true)
		if err := k.create(ctx, "seedrows-template-"+s.tag+"-"+k.kind, r); err != nil {
			return fmt.Errorf("%s: %w", k.kind, err)
		}
		t := template{table: k.table, columns: sessionColumns}
		if k.table == "oauth_refresh_tokens" {
			t.columns = refreshColumns
		}
		// Raw bytes whatever the column's type: pgx copies them back as they
		// are, to json as to bytea.
		if err := s.pool.QueryRow(ctx,
			`SELECT form_data, session_data FROM `+k.table+` WHERE request_id = $1`, r.ID).Scan(&t.form, &t.session); err != nil {
			return fmt.Errorf("%s: read back: %w", k.kind, err)
		}
		if _, err := s.pool.Exec(ctx, `DELETE FROM `+k.table+` WHERE request_id = $1`, r.ID); err != nil {
			return fmt.Errorf("%s: %w", k.kind, err)
		}
		s.tpl[k.kind] = t
	}
	return nil
}

var (
	seedScopes = []string{"openid", "profile", "projects:read", "tasks:read"}
	noStrings  = []string{}
)

// rowSource generates the rows [i+1, to) of one kind for pgx.CopyFrom.
type rowSource struct {
	s    *seeder
	t    template
	kind string
	i    int64
	to   int64
	rng  *mrand.ChaCha8
	row  []any
	aud  []string
}

func (r *rowSource) Next() bool { r.i++; return r.i < r.to }
func (r *rowSource) Err() error { return nil }

// Values fills the row in place: CopyFrom encodes it before asking for the
// next one.
func (r *rowSource) Values() ([]any, error) {
	s, i := r.s, r.i
	if r.aud == nil {
		r.aud = []string{s.opts.Audience}
	}
	var (
		g         int64
		requested time.Time
		expires   time.Time
		active    = true
	)
	h := splitmix(uint64(i) ^ s.salt ^ uint64(len(r.kind))<<56)
	switch r.kind {
	case kindExpiredAccess:
		// Grants long gone, two access tokens each, issued over 90 days.
		g = s.mix.LiveRefresh + i/2
		requested = s.now.Add(-time.Hour - time.Duration(h%(90*24*3600))*time.Second)
		expires = requested.Add(time.Hour)
	case kindLiveAccess:
		g = i % s.mix.LiveRefresh
		requested = s.now.Add(-time.Duration(h%3000) * time.Second)
		expires = requested.Add(time.Hour)
	case kindRotatedRefresh, kindLiveRefresh:
		g = i % s.mix.LiveRefresh
		requested = s.now.Add(-time.Duration(h%(29*24*3600)) * time.Second)
		expires = requested.Add(30 * 24 * time.Hour)
		active = r.kind == kindLiveRefresh
	default: // codes, PKCE and OpenID Connect sessions of pending grants
		g = pendingGrants + i
		requested = s.now.Add(-time.Duration(h%120) * time.Second)
		expires = requested.Add(time.Minute)
		active = r.kind != kindCode || i%10 != 0
	}
	u, a := s.grant(g)
	row := r.row
	row[0] = signature(r.rng)
	row[1] = s.requestID(g)
	row[2] = requested
	row[3] = s.apps[a]
	row[4] = s.users[u]
	row[5] = seedScopes
	row[6] = seedScopes
	row[7] = r.aud
	row[8] = r.aud
	row[9] = r.t.form
	row[10] = r.t.session
	row[11] = active
	row[12] = expires
	if len(row) > 13 {
		row[13] = signature(r.rng)
		if active {
			row[14] = nil
		} else {
			row[14] = requested.Add(time.Duration(h%3600) * time.Second)
		}
	}
	return row, nil
}
