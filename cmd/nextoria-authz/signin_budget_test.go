package main

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/dbtrace"
)

// TestSignInRoundTrips: a successful password sign-in (POST /login) makes
// 3 round trips to PostgreSQL: the throttle's three keys counted in one
// batch, the account read, and one batch that writes the login session, its
// audit event and the throttle's settlement. The session and the event are
// there afterwards, and the account's throttle keys are gone.
func TestSignInRoundTrips(t *testing.T) {
	const budget = 3
	var rec atomic.Pointer[dbtrace.Recorder]
	record := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if cur := rec.Load(); cur != nil && r.Method == http.MethodPost && r.URL.Path == "/login" {
				r = r.WithContext(dbtrace.WithRecorder(r.Context(), cur))
			}
			h.ServeHTTP(w, r)
		})
	}
	s := startE2EWrapped(t, record, func(c *Config) { c.Database.tracer = &dbtrace.Tracer{} })
	ctx := t.Context()
	b := s.newBrowser(t)
	p := b.get(s.URL + "/login")
	if p.StatusCode != http.StatusOK {
		t.Fatalf("sign-in page: %d", p.StatusCode)
	}
	f := hidden(p.Body)
	f.Set("email", s.Email)
	f.Set("password", e2ePassword)
	r := &dbtrace.Recorder{}
	rec.Store(r)
	b.post(s.URL+"/login", f)
	rec.Store(nil)

	var list strings.Builder
	for _, st := range r.Statements() {
		sql := strings.Join(strings.Fields(st.SQL), " ")
		list.WriteString("\n  " + sql[:min(100, len(sql))])
	}
	t.Logf("POST /login: %d round trips, %d statements:%s", r.RoundTrips(), len(r.Statements()), list.String())
	if n := r.RoundTrips(); n == 0 || n > budget {
		t.Errorf("POST /login: %d round trips, budget %d", n, budget)
	}
	var sessions, events int
	if err := s.store.Pool().QueryRow(ctx, `SELECT count(*) FROM login_sessions WHERE user_id = $1`, s.UserID).Scan(&sessions); err != nil {
		t.Fatal(err)
	}
	if err := s.store.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = $1 AND actor_id = $2`,
		storage.AuditSignInSucceeded, s.UserID).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if sessions != 1 || events != 1 {
		t.Errorf("after the sign-in: %d login sessions and %d sign-in events, want 1 and 1", sessions, events)
	}
	var accountKeys, ipAttempts int
	if err := s.store.Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE key NOT LIKE 'ip:%'), coalesce(sum(attempts) FILTER (WHERE key LIKE 'ip:%'), 0) FROM login_throttle`).Scan(&accountKeys, &ipAttempts); err != nil {
		t.Fatal(err)
	}
	if accountKeys != 0 || ipAttempts != 1 {
		t.Errorf("after the sign-in: %d account throttle keys (want 0) and %d attempts on the address (want 1)", accountKeys, ipAttempts)
	}
}
