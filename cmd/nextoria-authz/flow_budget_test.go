package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/dbtrace"
)

// TestPasswordFlowRoundTrips runs the whole flow of a user who signs in with
// a password and approves the consent screen, twice (two browsers), and
// holds each request that writes to its round trips to PostgreSQL:
//
//   - POST /login, 2: the throttle's three keys counted and the account
//     read in one batch, and one batch that writes the login session, its
//     audit event and the throttle's settlement (10 before).
//   - GET /oauth/authorize showing the consent screen, 2: the principal,
//     app and remembered grant in one batch, and the consent challenge; the
//     app's publisher is read once and then cached (the first flow makes 3).
//   - POST /oauth/authorize approving, 4: the principal, the challenge, the
//     app, and one batch that writes the grant, its consent.granted event
//     and the code's rows (8 before).
//
// What the flow writes is checked afterwards.
func TestPasswordFlowRoundTrips(t *testing.T) {
	type request struct {
		name       string
		roundTrips int
		statements []dbtrace.Statement
	}
	var (
		mu        sync.Mutex
		recording bool
		requests  []request
	)
	record := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			on := recording
			mu.Unlock()
			if !on {
				h.ServeHTTP(w, r)
				return
			}
			rec := &dbtrace.Recorder{}
			h.ServeHTTP(w, r.WithContext(dbtrace.WithRecorder(r.Context(), rec)))
			mu.Lock()
			requests = append(requests, request{r.Method + " " + r.URL.Path, rec.RoundTrips(), rec.Statements()})
			mu.Unlock()
		})
	}
	s := startE2EWrapped(t, record, func(c *Config) { c.Database.tracer = &dbtrace.Tracer{} })
	ctx := t.Context()
	conf := s.oauthConfig(oauth2.AuthStyleInParams, "projects:read", "tasks:read")

	budgets := []map[string]int{
		{"POST /login": 2, "GET /oauth/authorize": 3, "POST /oauth/authorize": 4},
		{"POST /login": 2, "GET /oauth/authorize": 2, "POST /oauth/authorize": 4},
	}
	for i, budget := range budgets {
		// A new browser each time: sign-in and consent screen again (the
		// grant saved by the first flow is revoked before the second).
		if i > 0 {
			if _, err := s.store.Pool().Exec(ctx, `DELETE FROM consent_grants WHERE user_id = $1`, s.UserID); err != nil {
				t.Fatal(err)
			}
		}
		b := s.newBrowser(t)
		state := fmt.Sprintf("password-flow-%d-state", i)
		verifier := oauth2.GenerateVerifier()
		mu.Lock()
		recording, requests = true, nil
		mu.Unlock()
		code := b.code(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), state)
		mu.Lock()
		recording = false
		got := requests
		mu.Unlock()
		if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err != nil {
			t.Fatalf("flow %d: code exchange: %v", i+1, err)
		}

		seen := map[string]bool{}
		for _, r := range got {
			var list strings.Builder
			for _, st := range r.statements {
				sql := strings.Join(strings.Fields(st.SQL), " ")
				fmt.Fprintf(&list, "\n  batch %d: %s", st.Batch, sql[:min(90, len(sql))])
			}
			t.Logf("flow %d: %s: %d round trips%s", i+1, r.name, r.roundTrips, list.String())
			max, ok := budget[r.name]
			if !ok || r.roundTrips == 0 {
				continue // pages that only read (sign-in form, redirects)
			}
			seen[r.name] = true
			if r.roundTrips > max {
				t.Errorf("flow %d: %s: %d round trips, budget %d", i+1, r.name, r.roundTrips, max)
			}
			if r.name == "POST /oauth/authorize" {
				batchOf := map[string]int{}
				for _, st := range r.statements {
					for _, table := range []string{"consent_grants", "audit_events", "oauth_codes"} {
						if strings.Contains(st.SQL, "INSERT INTO "+table) {
							batchOf[table] = st.Batch
						}
					}
				}
				if len(batchOf) != 3 || batchOf["oauth_codes"] == 0 ||
					batchOf["consent_grants"] != batchOf["oauth_codes"] || batchOf["audit_events"] != batchOf["oauth_codes"] {
					t.Errorf("flow %d: the grant, its event and the code are not written in one batch: %v", i+1, batchOf)
				}
			}
		}
		for name := range budget {
			if !seen[name] {
				t.Errorf("flow %d: no %s that reached the database", i+1, name)
			}
		}
	}

	count := func(sql string, args ...any) int {
		t.Helper()
		var n int
		if err := s.store.Pool().QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM login_sessions WHERE user_id = $1`, s.UserID); n != 2 {
		t.Errorf("%d login sessions, want 2", n)
	}
	if n := count(`SELECT count(*) FROM audit_events WHERE action = $1 AND actor_id = $2`, storage.AuditSignInSucceeded, s.UserID); n != 2 {
		t.Errorf("%d sign-in events, want 2", n)
	}
	if n := count(`SELECT count(*) FROM audit_events WHERE action = $1 AND actor_id = $2`, storage.AuditConsentGranted, s.UserID); n != 2 {
		t.Errorf("%d consent.granted events, want 2", n)
	}
	if n := count(`SELECT count(*) FROM consent_grants WHERE user_id = $1`, s.UserID); n != 1 {
		t.Errorf("%d consent grants, want 1", n)
	}
	if n := count(`SELECT count(*) FROM login_throttle WHERE key NOT LIKE 'ip:%'`); n != 0 {
		t.Errorf("%d account throttle keys left after successful sign-ins", n)
	}
	if n := count(`SELECT coalesce(sum(attempts), 0) FROM login_throttle WHERE key LIKE 'ip:%'`); n != 1 {
		t.Errorf("%d attempts left on the address, want 1", n)
	}
}
