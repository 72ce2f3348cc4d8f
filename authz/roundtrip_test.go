package authz

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
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
	return &budgetEnv{t: t, handler: mux, store: store, clientID: "budget-app", apiKey: key}
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
