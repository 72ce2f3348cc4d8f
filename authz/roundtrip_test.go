package authz

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nextoria/authz/apikey"
	"github.com/nextoria/authz/consent"
	"github.com/nextoria/authz/errpage"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/dbtrace"
	"github.com/nextoria/authz/storage/storagetest"
	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"
)

// budgetBrowser is a signed-in browser: it reads the principal of its login
// session from the store, as the web package does, so the authorization
// endpoint's reads are counted in full.
type budgetBrowser struct {
	store  *storage.Store
	idHash []byte
}

func (b *budgetBrowser) LoadPrincipal(r *http.Request) (storage.Principal, bool, error) {
	p, err := b.store.GetPrincipal(r.Context(), b.idHash)
	if err != nil {
		return storage.Principal{}, false, err
	}
	return p, true, nil
}

func (b *budgetBrowser) RedirectToLogin(w http.ResponseWriter, _ *http.Request, _ string) {
	w.WriteHeader(http.StatusUnauthorized)
}

func (b *budgetBrowser) RedirectToReauth(w http.ResponseWriter, _ *http.Request, _ string) {
	w.WriteHeader(http.StatusUnauthorized)
}

func (b *budgetBrowser) RenderConsent(w http.ResponseWriter, _ *http.Request, _ consent.Prompt) {
	w.WriteHeader(http.StatusConflict)
}

func (b *budgetBrowser) RenderError(w http.ResponseWriter, _ *http.Request, status int, title, detail string) {
	http.Error(w, title+": "+detail, status)
}

func (b *budgetBrowser) RenderProblem(w http.ResponseWriter, _ *http.Request, p errpage.Problem) {
	status := p.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	http.Error(w, fmt.Sprintf("%s %s %s", p.Class, p.Code, p.Detail), status)
}

func (b *budgetBrowser) CSRFToken(*http.Request, string) string        { return "csrf" }
func (b *budgetBrowser) VerifyCSRF(*http.Request, string, string) bool { return true }

// budgetEnv is an in-process server on a traced pool, with a signed-in user
// who has consented to a confidential app, a resource server and an API key.
type budgetEnv struct {
	t        *testing.T
	srv      *Server
	handler  http.Handler
	store    *storage.Store
	clientID string
	apiKey   string
}

const (
	budgetRedirect = "http://127.0.0.1:9/callback"
	budgetVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)

func newBudgetEnv(t *testing.T) *budgetEnv {
	t.Helper()
	ctx := t.Context()
	pool, err := storage.ConnectPool(ctx, storagetest.NewDatabase(t), storage.PoolOptions{Tracer: dbtrace.Tracer{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := storage.New(pool, storage.Options{Audience: []string{benchIssuer}, RefreshGracePeriod: 30 * time.Second})
	keys := testKeys(t)
	ks, err := NewKeySet(ctx, store, keys.Seal, time.Hour, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ws, err := store.CreateWorkspace(ctx, "Budget", storage.PlanScale)
	if err != nil {
		t.Fatal(err)
	}
	u, err := store.CreateUser(ctx, storage.NewUser{Email: "ada@example.com", PasswordHash: "unused", WorkspaceID: ws.ID})
	if err != nil {
		t.Fatal(err)
	}
	sid := secret.Token()
	idHash := secret.SHA256([]byte(sid))
	if err := store.CreateLoginSession(ctx, idHash, u.ID, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{
		Issuer: benchIssuer, Audience: benchIssuer, AccessTokenLifespan: time.Hour, RefreshTokenLifespan: time.Hour,
		AuthorizationCodeLifespan: time.Minute, Keys: keys, Logger: slog.New(slog.DiscardHandler),
	}, store, ks, &budgetBrowser{store: store, idHash: idHash})
	if err != nil {
		t.Fatal(err)
	}
	scopes := []string{"openid", "profile", "email", "projects:read", "tasks:read"}
	if _, err := store.CreateApp(ctx, storage.NewApp{
		ClientID: "budget-app", SecretHash: srv.hasher.Sum([]byte("secret")), Name: "Budget App",
		RedirectURIs: []string{budgetRedirect}, Scopes: scopes, WorkspaceID: ws.ID, OwnerID: u.ID,
	}); err != nil {
		t.Fatal(err)
	}
	if err := store.SaveGrant(ctx, u.ID, "budget-app", scopes); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateResourceServer(ctx, "rs-budget", "Budget API", srv.hasher.Sum([]byte("rs-secret"))); err != nil {
		t.Fatal(err)
	}
	svc := &apikey.Service{Store: store, Hasher: srv.hasher, Logger: slog.New(slog.DiscardHandler)}
	_, key, err := svc.Create(ctx, ws.ID, u.ID, "budget key", []string{"projects:read"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetAPIKeys(NewAPIKeyIntrospector(svc, benchIssuer))
	mux := http.NewServeMux()
	srv.Routes(mux)
	return &budgetEnv{t: t, srv: srv, handler: mux, store: store, clientID: "budget-app", apiKey: key}
}

// serve runs one request, recorded into rec when rec is not nil.
func (e *budgetEnv) serve(req *http.Request, rec *dbtrace.Recorder) *httptest.ResponseRecorder {
	if rec != nil {
		req = req.WithContext(dbtrace.WithRecorder(req.Context(), rec))
	}
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, req)
	return w
}

// authorize asks for a code with remembered consent and returns it.
func (e *budgetEnv) authorize(scope string, rec *dbtrace.Recorder) string {
	e.t.Helper()
	sum := sha256.Sum256([]byte(budgetVerifier))
	q := url.Values{
		"client_id": {e.clientID}, "response_type": {"code"}, "redirect_uri": {budgetRedirect},
		"scope": {scope}, "state": {"state-" + secret.Token()[:8]}, "nonce": {"nonce-" + secret.Token()[:8]},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	w := e.serve(httptest.NewRequest(http.MethodGet, AuthorizePath+"?"+q.Encode(), nil), rec)
	if w.Code != http.StatusSeeOther {
		e.t.Fatalf("authorize: %d %s", w.Code, w.Body)
	}
	loc, err := url.Parse(w.Header().Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		e.t.Fatalf("authorize: no code in %q", w.Header().Get("Location"))
	}
	return loc.Query().Get("code")
}

// token posts a token request and returns the decoded response.
func (e *budgetEnv) token(form url.Values, rec *dbtrace.Recorder) map[string]any {
	e.t.Helper()
	req := httptest.NewRequest(http.MethodPost, TokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(e.clientID, "secret")
	w := e.serve(req, rec)
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != http.StatusOK {
		e.t.Fatalf("token (%s): %d %s", form.Get("grant_type"), w.Code, w.Body)
	}
	return body
}

func (e *budgetEnv) exchange(code string, rec *dbtrace.Recorder) map[string]any {
	return e.token(url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {budgetRedirect}, "code_verifier": {budgetVerifier}}, rec)
}

func (e *budgetEnv) refresh(token string, rec *dbtrace.Recorder) map[string]any {
	return e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}, rec)
}

func (e *budgetEnv) introspect(token string, rec *dbtrace.Recorder) {
	e.t.Helper()
	req := httptest.NewRequest(http.MethodPost, IntrospectPath, strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("rs-budget", "rs-secret")
	w := e.serve(req, rec)
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Body.String(), `{"active":true`) {
		e.t.Fatalf("introspect: %d %s", w.Code, w.Body)
	}
}

var writeSQL = regexp.MustCompile(`(?i)\b(insert|update|delete)\b`)

// transactions counts the transactions that wrote: each explicit BEGIN
// whose transaction wrote, plus each batch or lone statement outside one
// that wrote (a batch runs as one implicit transaction).
func transactions(stmts []dbtrace.Statement) int {
	n, inTx, wrote := 0, false, false
	seenBatch := map[int]bool{}
	for _, st := range stmts {
		sql := strings.ToLower(strings.TrimSpace(st.SQL))
		switch {
		case strings.HasPrefix(sql, "begin"):
			inTx, wrote = true, false
		case sql == "commit" || sql == "rollback":
			if inTx && wrote {
				n++
			}
			inTx = false
		case !writeSQL.MatchString(st.SQL):
		case inTx:
			wrote = true
		case st.Batch > 0:
			if !seenBatch[st.Batch] {
				seenBatch[st.Batch] = true
				n++
			}
		default:
			n++
		}
	}
	return n
}

// budgetRow is one measured path.
type budgetRow struct {
	name       string
	budget     int
	oneTx      bool
	roundTrips int
	statements []dbtrace.Statement
}

// TestRoundTripBudget runs each hot path once to warm caches and prepared
// statements, then once recorded, and fails when a path makes more round
// trips to PostgreSQL than its budget, or when a token request writes in
// more than one transaction.
func TestRoundTripBudget(t *testing.T) {
	e := newBudgetEnv(t)
	measure := func(name string, budget int, oneTx bool, run func(rec *dbtrace.Recorder)) {
		run(nil) // warm up
		rec := &dbtrace.Recorder{}
		run(rec)
		row := budgetRow{name: name, budget: budget, oneTx: oneTx, roundTrips: rec.RoundTrips(), statements: rec.Statements()}
		var list strings.Builder
		for i, st := range row.statements {
			fmt.Fprintf(&list, "  %2d batch=%d %s\n", i+1, st.Batch, strings.Join(strings.Fields(st.SQL), " "))
		}
		t.Logf("%-28s round trips %d (budget %d), statements %d\n%s", name, row.roundTrips, budget, len(row.statements), list.String())
		if row.roundTrips > budget {
			t.Errorf("%s: %d round trips, budget %d", name, row.roundTrips, budget)
		}
		if tx := transactions(row.statements); oneTx && tx != 1 {
			t.Errorf("%s: wrote in %d transactions, want 1", name, tx)
		}
	}

	const plain = "projects:read tasks:read"
	const oidc = "openid profile email projects:read"
	measure("authorize (consented)", 2, false, func(rec *dbtrace.Recorder) { e.authorize(plain, rec) })
	measure("authorize openid (consented)", 2, false, func(rec *dbtrace.Recorder) { e.authorize(oidc, rec) })

	var refreshToken, accessToken string
	measure("code exchange", 3, true, func(rec *dbtrace.Recorder) {
		code := e.authorize(plain, nil)
		body := e.exchange(code, rec)
		refreshToken, _ = body["refresh_token"].(string)
		accessToken, _ = body["access_token"].(string)
	})
	measure("code exchange openid", 3, true, func(rec *dbtrace.Recorder) {
		body := e.exchange(e.authorize(oidc, nil), rec)
		if body["id_token"] == nil {
			t.Error("code exchange openid: no id_token")
		}
	})
	measure("refresh", 3, true, func(rec *dbtrace.Recorder) {
		body := e.refresh(refreshToken, rec)
		refreshToken, _ = body["refresh_token"].(string)
		accessToken, _ = body["access_token"].(string)
	})
	measure("refresh narrowing scopes", 3, true, func(rec *dbtrace.Recorder) {
		body := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}, "scope": {"projects:read"}}, rec)
		if body["scope"] != "projects:read" {
			t.Errorf("narrowed refresh: scope %v", body["scope"])
		}
		// The new refresh token keeps the grant's scopes.
		body = e.refresh(body["refresh_token"].(string), nil)
		if body["scope"] != plain {
			t.Errorf("refresh after narrowing: scope %v, want %q", body["scope"], plain)
		}
		refreshToken, _ = body["refresh_token"].(string)
		accessToken, _ = body["access_token"].(string)
	})
	oidcRefresh, _ := e.exchange(e.authorize(oidc, nil), nil)["refresh_token"].(string)
	measure("refresh openid", 3, true, func(rec *dbtrace.Recorder) {
		body := e.refresh(oidcRefresh, rec)
		oidcRefresh, _ = body["refresh_token"].(string)
		if body["id_token"] == nil {
			t.Error("refresh openid: no id_token")
		}
	})
	measure("introspect JWT", 1, false, func(rec *dbtrace.Recorder) { e.introspect(accessToken, rec) })
	measure("introspect API key", 1, false, func(rec *dbtrace.Recorder) { e.introspect(e.apiKey, rec) })
}

// TestGrantIDsGrowWithTime: a new grant's request id, which its code and
// tokens carry, is a version 7 UUID, so the ids of later grants sort after
// earlier ones and their index entries are appended, not scattered.
func TestGrantIDsGrowWithTime(t *testing.T) {
	e := newBudgetEnv(t)
	for range 3 {
		e.exchange(e.authorize("projects:read", nil), nil)
	}
	rows, err := e.store.Pool().Query(t.Context(),
		`SELECT request_id FROM oauth_refresh_tokens ORDER BY requested_at, signature`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 3 {
		t.Fatalf("%d refresh tokens, want 3", len(ids))
	}
	for i, id := range ids {
		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 7 {
			t.Errorf("grant %d: request id %q is not a version 7 UUID (%v)", i, id, err)
		}
		if i > 0 && id <= ids[i-1] {
			t.Errorf("grant %d: request id %q does not sort after %q", i, id, ids[i-1])
		}
	}
	var codes int
	if err := e.store.Pool().QueryRow(t.Context(),
		`SELECT count(*) FROM oauth_codes c JOIN oauth_refresh_tokens r USING (request_id)`).Scan(&codes); err != nil || codes != 3 {
		t.Errorf("%d codes share their grant's request id (%v), want 3", codes, err)
	}
}

// v4Session makes access tokens as this server did before their jti was a
// version 7 UUID.
type v4Session struct{ *Session }

func (s v4Session) GetJWTClaims() jwt.JWTClaimsContainer {
	c := s.Session.GetJWTClaims().(*jwt.JWTClaims)
	c.JTI = uuid.NewString()
	return c
}

// TestTokensFromBeforeTimeOrderedKeys: tokens issued before their keys
// carried the time (a refresh token with fosite's 32-byte key, an access
// token whose jti is a version 4 UUID), stored under the SHA-256 of their
// signature, are still found after the upgrade: the refresh token
// introspects and refreshes, the access token introspects and is revoked.
func TestTokensFromBeforeTimeOrderedKeys(t *testing.T) {
	e := newBudgetEnv(t)
	ctx := t.Context()
	e.exchange(e.authorize("projects:read", nil), nil)
	oldKey := func(sig string) string {
		sum := sha256.Sum256([]byte(sig))
		return hex.EncodeToString(sum[:])
	}

	// The grant's live refresh token becomes one of the old form.
	rt, rtSig, err := e.srv.accessStrategy.DefaultJWTStrategy.HMACSHAStrategy.GenerateRefreshToken(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.srv.accessStrategy.RefreshTokenSignature(ctx, rt), ":") {
		t.Fatal("an old-form refresh token got a time prefix")
	}
	// And its access token: a JWT with a version 4 jti, signed by the server.
	var sess Session
	sess.Subject, sess.ClientID = "legacy", e.clientID
	at, _, err := e.srv.accessStrategy.DefaultJWTStrategy.GenerateAccessToken(ctx, &fosite.Request{Session: v4Session{&sess}})
	if err != nil {
		t.Fatal(err)
	}
	if sig := e.srv.accessStrategy.AccessTokenSignature(ctx, at); sig != at {
		t.Fatalf("an access token with a version 4 jti got signature %.20q…, want the token itself", sig)
	}
	for _, q := range []struct{ sql, key string }{
		{`UPDATE oauth_refresh_tokens SET signature = $1 WHERE active`, oldKey(rtSig)},
		{`UPDATE oauth_access_tokens SET signature = $1`, oldKey(at)},
	} {
		if tag, err := e.store.Pool().Exec(ctx, q.sql, q.key); err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("%s: %v rows (%v)", q.sql, tag.RowsAffected(), err)
		}
	}

	e.introspect(at, nil)
	e.introspect(rt, nil)
	next := e.refresh(rt, nil)
	e.introspect(next["access_token"].(string), nil)
	var live string
	if err := e.store.Pool().QueryRow(ctx, `SELECT signature FROM oauth_refresh_tokens WHERE active`).Scan(&live); err != nil {
		t.Fatal(err)
	}
	newSig := e.srv.accessStrategy.RefreshTokenSignature(ctx, next["refresh_token"].(string))
	if want := newSig[:timePrefixLen] + oldKey(newSig[timePrefixLen+1:]); live != want {
		t.Fatalf("the new refresh token's key is %q, want the time-ordered %q", live, want)
	}

	// Revoking the old access token by its value finds its row.
	req := httptest.NewRequest(http.MethodPost, RevokePath, strings.NewReader(url.Values{"token": {at}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(e.clientID, "secret")
	if rec := e.serve(req, nil); rec.Code != http.StatusOK {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	var left int
	if err := e.store.Pool().QueryRow(ctx, `SELECT count(*) FROM oauth_access_tokens WHERE signature = $1`, oldKey(at)).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d rows under the revoked access token's key (%v), want 0", left, err)
	}
}

// TestTokenKeysGrowWithTime: the rows of new access and refresh tokens are
// keyed by their time of issue in front of the hash, so later tokens' keys
// sort after earlier ones (their primary-key entries are appended), and every
// token is found again under its key: introspected, refreshed, revoked.
func TestTokenKeysGrowWithTime(t *testing.T) {
	e := newBudgetEnv(t)
	ctx := t.Context()
	start := time.Now().UnixMilli()
	var issued []map[string]any // in the order of issue
	first := e.exchange(e.authorize("projects:read", nil), nil)
	issued = append(issued, first)
	time.Sleep(2 * time.Millisecond)
	issued = append(issued, e.exchange(e.authorize("projects:read", nil), nil))
	time.Sleep(2 * time.Millisecond)
	second := e.refresh(first["refresh_token"].(string), nil)
	issued = append(issued, second)
	end := time.Now().UnixMilli()
	e.introspect(second["access_token"].(string), nil)

	keyRE := regexp.MustCompile(`^[0-9a-f]{12}[0-9a-f]{64}$`)
	exists := func(table, key string) bool {
		var found bool
		if err := e.store.Pool().QueryRow(ctx,
			`SELECT EXISTS (SELECT 1 FROM `+table+` WHERE signature = $1)`, key).Scan(&found); err != nil {
			t.Fatal(err)
		}
		return found
	}
	rowKey := func(sig string) string {
		prefix, rest, ok := strings.Cut(sig, ":")
		if !ok {
			t.Fatalf("signature %.30q… has no time prefix", sig)
		}
		sum := sha256.Sum256([]byte(rest))
		return prefix + hex.EncodeToString(sum[:])
	}
	for _, kind := range []struct {
		table, field string
		sig          func(string) string
	}{
		{"oauth_access_tokens", "access_token", func(tok string) string { return e.srv.accessStrategy.AccessTokenSignature(ctx, tok) }},
		{"oauth_refresh_tokens", "refresh_token", func(tok string) string { return e.srv.accessStrategy.RefreshTokenSignature(ctx, tok) }},
	} {
		for i, resp := range issued {
			k := rowKey(kind.sig(resp[kind.field].(string)))
			if !keyRE.MatchString(k) {
				t.Fatalf("%s %d: key %q is not 12 hex digits of time and a SHA-256", kind.field, i, k)
			}
			ms, err := strconv.ParseInt(k[:timePrefixLen], 16, 64)
			if err != nil || ms < start || ms > end {
				t.Errorf("%s %d: key time %d (%v) outside [%d, %d]", kind.field, i, ms, err, start, end)
			}
			if i > 0 {
				if prev := rowKey(kind.sig(issued[i-1][kind.field].(string))); k <= prev {
					t.Errorf("%s %d: key %q does not sort after the earlier %q", kind.field, i, k, prev)
				}
			}
			// The refresh retired the first access token (its row is gone);
			// every other token is stored under its key.
			if want := !(kind.field == "access_token" && i == 0); exists(kind.table, k) != want {
				t.Errorf("%s %d: row under key %q exists = %v, want %v", kind.field, i, k, !want, want)
			}
		}
	}
	// The refresh token's row names the access token it came with by the
	// same kind of key.
	var atKey string
	if err := e.store.Pool().QueryRow(ctx,
		`SELECT access_token_signature FROM oauth_refresh_tokens WHERE signature = $1`,
		rowKey(e.srv.accessStrategy.RefreshTokenSignature(ctx, second["refresh_token"].(string)))).Scan(&atKey); err != nil {
		t.Fatal(err)
	}
	if want := rowKey(e.srv.accessStrategy.AccessTokenSignature(ctx, second["access_token"].(string))); atKey != want {
		t.Fatalf("access_token_signature %q, want %q", atKey, want)
	}

	// Revoking the refresh token by its value finds its row.
	req := httptest.NewRequest(http.MethodPost, RevokePath,
		strings.NewReader(url.Values{"token": {second["refresh_token"].(string)}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(e.clientID, "secret")
	if rec := e.serve(req, nil); rec.Code != http.StatusOK {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	var live int
	if err := e.store.Pool().QueryRow(ctx,
		`SELECT count(*) FROM oauth_refresh_tokens WHERE active AND signature = $1`,
		rowKey(e.srv.accessStrategy.RefreshTokenSignature(ctx, second["refresh_token"].(string)))).Scan(&live); err != nil || live != 0 {
		t.Fatalf("the revoked refresh token's row is active (%d, %v)", live, err)
	}
}

// TestPKCEKeptInTheCodeRow: a new authorization writes one row, the code's,
// which keeps the PKCE parameters and the redirect URI; the exchange checks
// the verifier against it and refuses a wrong one. A code issued before, whose
// PKCE request is a row of oauth_pkce, still exchanges against that row.
func TestPKCEKeptInTheCodeRow(t *testing.T) {
	e := newBudgetEnv(t)
	ctx := t.Context()
	pool := e.store.Pool()
	countPKCE := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM oauth_pkce`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	exchange := func(code, verifier string) int {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {budgetRedirect}, "code_verifier": {verifier}}
		req := httptest.NewRequest(http.MethodPost, TokenPath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(e.clientID, "secret")
		return e.serve(req, nil).Code
	}

	code := e.authorize("projects:read", nil)
	if n := countPKCE(); n != 0 {
		t.Errorf("the authorization wrote %d rows to oauth_pkce, want none", n)
	}
	var form string
	if err := pool.QueryRow(ctx, `SELECT form_data FROM oauth_codes WHERE active`).Scan(&form); err != nil {
		t.Fatal(err)
	}
	kept, err := url.ParseQuery(form)
	if err != nil || kept.Get("code_challenge") == "" || kept.Get("code_challenge_method") != "S256" || kept.Get("redirect_uri") != budgetRedirect {
		t.Errorf("the code's row keeps %q (%v), want the challenge, its method and the redirect URI", form, err)
	}
	if status := exchange(code, strings.Repeat("x", 43)); status != http.StatusBadRequest {
		t.Errorf("exchange with a wrong verifier: %d, want 400", status)
	}
	if status := exchange(e.authorize("projects:read", nil), budgetVerifier); status != http.StatusOK {
		t.Errorf("exchange with the verifier: %d, want 200", status)
	}

	// A code from before: its row keeps only the redirect URI, and its PKCE
	// request is a row of its own.
	legacy := e.authorize("projects:read", nil)
	if _, err := pool.Exec(ctx, `
		WITH code AS (
		    UPDATE oauth_codes SET form_data = $1
		    WHERE signature = (SELECT signature FROM oauth_codes ORDER BY requested_at DESC LIMIT 1)
		    RETURNING *
		)
		INSERT INTO oauth_pkce SELECT signature, request_id, requested_at, client_id, subject, scopes,
		    granted_scopes, requested_audience, granted_audience, $2, session_data, active, expires_at
		FROM code`,
		url.Values{"redirect_uri": {budgetRedirect}}.Encode(),
		url.Values{"code_challenge": {kept.Get("code_challenge")}, "code_challenge_method": {"S256"}}.Encode(),
	); err != nil {
		t.Fatal(err)
	}
	if n := countPKCE(); n != 1 {
		t.Fatalf("oauth_pkce has %d rows, want the legacy one", n)
	}
	if status := exchange(legacy, strings.Repeat("y", 43)); status != http.StatusBadRequest {
		t.Errorf("legacy code with a wrong verifier: %d, want 400", status)
	}
	if status := exchange(legacy, budgetVerifier); status != http.StatusOK {
		t.Errorf("legacy code with the verifier: %d, want 200", status)
	}
}
