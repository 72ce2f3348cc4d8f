package storage_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/nextoria/authz/storage"
)

// signOutEvent is a sign-out of f's user, for tests that need any event.
func signOutEvent(f fixture) storage.AuditEvent {
	return storage.AuditEvent{
		WorkspaceID: f.ws.ID, ActorKind: storage.ActorUser, ActorID: f.user.ID,
		Action: storage.AuditSignOut, TargetKind: storage.TargetUser, TargetID: f.user.ID,
	}
}

// TestAuditedSameTransaction: the event of a change commits with it, and a
// change that fails, or whose transaction rolls back, leaves no event.
func TestAuditedSameTransaction(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	keyEvent := func(k storage.APIKey) storage.AuditEvent {
		return storage.AuditEvent{WorkspaceID: f.ws.ID, ActorKind: storage.ActorUser, ActorID: f.user.ID,
			Action: storage.AuditAPIKeyCreated, TargetKind: storage.TargetAPIKey, TargetID: k.ID}
	}
	newKey := func(name string, hash byte) storage.NewAPIKey {
		return storage.NewAPIKey{WorkspaceID: f.ws.ID, Name: name, Scopes: []string{"read"},
			KeyHash: []byte(strings.Repeat(string(rune(hash)), 32)), DisplayID: "nxk_" + name}
	}

	// Committed: one key, one event.
	err := f.st.Audited(ctx, func(ctx context.Context) (storage.AuditEvent, error) {
		k, err := f.st.CreateAPIKey(ctx, newKey("ok", 'a'))
		return keyEvent(k), err
	})
	if err != nil {
		t.Fatalf("Audited: %v", err)
	}

	// The change fails: its error comes back unwrapped and nothing is kept.
	err = f.st.Audited(ctx, func(ctx context.Context) (storage.AuditEvent, error) {
		k, err := f.st.CreateAPIKey(ctx, newKey("dup", 'a')) // same hash: conflict
		return keyEvent(k), err
	})
	if !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("Audited(conflict) = %v, want ErrConflict", err)
	}

	// The change succeeds but the event is invalid: the change rolls back too.
	err = f.st.Audited(ctx, func(ctx context.Context) (storage.AuditEvent, error) {
		_, err := f.st.CreateAPIKey(ctx, newKey("lost", 'b'))
		return storage.AuditEvent{ActorKind: storage.ActorUser, Action: "app.exploded"}, err
	})
	if err == nil {
		t.Fatal("Audited with an unknown action succeeded")
	}

	// Inside an outer transaction that rolls back: neither survives.
	tctx, err := f.st.BeginTX(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = f.st.Audited(tctx, func(ctx context.Context) (storage.AuditEvent, error) {
		k, err := f.st.CreateAPIKey(ctx, newKey("rolled", 'c'))
		return keyEvent(k), err
	})
	if err != nil {
		t.Fatalf("Audited in a transaction: %v", err)
	}
	if err := f.st.Rollback(tctx); err != nil {
		t.Fatal(err)
	}

	if n := countRows(t, f.st, "api_keys", "true"); n != 1 {
		t.Errorf("api_keys = %d rows, want 1", n)
	}
	if n := countRows(t, f.st, "audit_events", "true"); n != 1 {
		t.Errorf("audit_events = %d rows, want 1 (only the committed change)", n)
	}
}

// TestRecordAuditRequestSource: the client address and User-Agent come from
// the request's context unless the event sets them; User-Agents are cleaned
// and cut; invalid events are refused and write nothing.
func TestRecordAuditRequestSource(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	long := strings.Repeat("é", 400) // 800 bytes
	tests := []struct {
		name    string
		ctxIP   string
		ctxUA   string
		ev      func(storage.AuditEvent) storage.AuditEvent
		wantIP  string
		wantUA  string
		wantErr bool
	}{
		{name: "from context", ctxIP: "203.0.113.7", ctxUA: "Mozilla/5.0", wantIP: "203.0.113.7", wantUA: "Mozilla/5.0"},
		{name: "event wins", ctxIP: "203.0.113.7", ctxUA: "ctx",
			ev: func(e storage.AuditEvent) storage.AuditEvent {
				e.ClientIP, e.UserAgent = netip.MustParseAddr("2001:db8::1"), "own"
				return e
			}, wantIP: "2001:db8::1", wantUA: "own"},
		{name: "mapped v4", ctxIP: "::ffff:198.51.100.2", wantIP: "198.51.100.2"},
		{name: "control bytes and length", ctxUA: "a\x00b\nc\xff" + long, wantUA: "abc\uFFFD" + strings.Repeat("é", 253)},
		{name: "no source"},
		{name: "unknown action", ev: func(e storage.AuditEvent) storage.AuditEvent { e.Action = "nope"; return e }, wantErr: true},
		{name: "unknown actor", ev: func(e storage.AuditEvent) storage.AuditEvent { e.ActorKind = "robot"; return e }, wantErr: true},
		{name: "user target not a uuid", ev: func(e storage.AuditEvent) storage.AuditEvent { e.TargetID = "x"; return e }, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if tt.ctxIP != "" || tt.ctxUA != "" {
				var ip netip.Addr
				if tt.ctxIP != "" {
					ip = netip.MustParseAddr(tt.ctxIP)
				}
				ctx = storage.WithRequestSource(ctx, ip, tt.ctxUA)
			}
			ev := signOutEvent(f)
			ev.Details = map[string]any{"case": tt.name}
			if tt.ev != nil {
				ev = tt.ev(ev)
			}
			err := f.st.RecordAudit(ctx, ev)
			if tt.wantErr {
				if err == nil {
					t.Fatal("RecordAudit succeeded")
				}
				return
			}
			if err != nil {
				t.Fatalf("RecordAudit: %v", err)
			}
			var ip, ua string
			if err := f.st.Pool().QueryRow(ctx,
				`SELECT coalesce(host(client_ip), ''), user_agent FROM audit_events WHERE details->>'case' = $1`,
				tt.name).Scan(&ip, &ua); err != nil {
				t.Fatal(err)
			}
			if ip != tt.wantIP || ua != tt.wantUA {
				t.Errorf("ip, ua = %q, %q; want %q, %q", ip, ua, tt.wantIP, tt.wantUA)
			}
		})
	}
}

// TestAuditAppendOnly: the table refuses updates.
func TestAuditAppendOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	if err := f.st.RecordAudit(t.Context(), signOutEvent(f)); err != nil {
		t.Fatal(err)
	}
	_, err := f.st.Pool().Exec(t.Context(), `UPDATE audit_events SET action = 'signin.succeeded'`)
	if err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("UPDATE = %v, want the append-only refusal", err)
	}
}

// TestListAuditEvents: a workspace's events only, newest first, filtered
// by action, person and time, in keyset pages that neither skip nor repeat.
func TestListAuditEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	other, err := f.st.CreateUser(ctx, storage.NewUser{Email: "bob@example.com", PasswordHash: "x", WorkspaceID: f.ws.ID})
	if err != nil {
		t.Fatal(err)
	}
	ws2, err := f.st.CreateWorkspace(ctx, "Globex", storage.PlanStarter)
	if err != nil {
		t.Fatal(err)
	}
	// 7 events of Ada, 5 of Bob (one per transaction, some sharing a time),
	// 2 of another workspace and 1 server-wide one.
	record := func(ws, user, action string) {
		t.Helper()
		ev := storage.AuditEvent{WorkspaceID: ws, ActorKind: storage.ActorUser, ActorID: user, Action: action,
			TargetKind: storage.TargetUser, TargetID: user}
		if err := f.st.RecordAudit(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 7 {
		record(f.ws.ID, f.user.ID, []string{storage.AuditSignInSucceeded, storage.AuditSignInFailed}[i%2])
	}
	// Bob's five in one transaction: the same time, told apart by id.
	tctx, err := f.st.BeginTX(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		ev := storage.AuditEvent{WorkspaceID: f.ws.ID, ActorKind: storage.ActorUser, ActorID: f.user.ID,
			Action: storage.AuditConsentRevoked, TargetKind: storage.TargetUser, TargetID: other.ID}
		if err := f.st.RecordAudit(tctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.st.Commit(tctx); err != nil {
		t.Fatal(err)
	}
	record(ws2.ID, f.user.ID, storage.AuditSignOut)
	record(ws2.ID, f.user.ID, storage.AuditSignOut)
	if err := f.st.RecordAudit(ctx, storage.AuditEvent{ActorKind: storage.ActorOperator, ActorID: "root",
		Action: storage.AuditSigningKeyRotated, TargetKind: storage.TargetSigningKey, TargetID: "kid-1"}); err != nil {
		t.Fatal(err)
	}

	// All of the workspace, in pages of 3.
	var all []storage.AuditEvent
	var after storage.AuditCursor
	for page := 0; ; page++ {
		got, err := f.st.ListAuditEvents(ctx, storage.AuditQuery{WorkspaceID: f.ws.ID, Limit: 3, After: after})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, got...)
		if len(got) < 3 {
			break
		}
		after = storage.AuditCursor{Time: got[len(got)-1].Time, ID: got[len(got)-1].ID}
		if page > 10 {
			t.Fatal("pagination does not end")
		}
	}
	if len(all) != 12 {
		t.Fatalf("paged through %d events, want 12", len(all))
	}
	seen := map[int64]bool{}
	for i, ev := range all {
		if seen[ev.ID] {
			t.Errorf("event %d listed twice", ev.ID)
		}
		seen[ev.ID] = true
		if i > 0 {
			prev := all[i-1]
			if ev.Time.After(prev.Time) || (ev.Time.Equal(prev.Time) && ev.ID > prev.ID) {
				t.Errorf("event %d (%v) listed after %d (%v): not newest first", ev.ID, ev.Time, prev.ID, prev.Time)
			}
		}
		if ev.WorkspaceID != f.ws.ID {
			t.Errorf("event of workspace %q listed", ev.WorkspaceID)
		}
	}
	if all[0].Action != storage.AuditConsentRevoked || all[0].TargetEmail != "bob@example.com" || all[0].ActorEmail != "ada@example.com" {
		t.Errorf("newest = %+v, want Ada's revocation targeting Bob, with e-mails", all[0])
	}

	for _, tt := range []struct {
		name string
		q    storage.AuditQuery
		want int
	}{
		{"action", storage.AuditQuery{WorkspaceID: f.ws.ID, Action: storage.AuditSignInFailed}, 3},
		{"person as target", storage.AuditQuery{WorkspaceID: f.ws.ID, Person: other.ID}, 5},
		{"person as actor", storage.AuditQuery{WorkspaceID: f.ws.ID, Person: f.user.ID}, 12},
		{"person and action", storage.AuditQuery{WorkspaceID: f.ws.ID, Person: other.ID, Action: storage.AuditSignInFailed}, 0},
		{"since the future", storage.AuditQuery{WorkspaceID: f.ws.ID, Since: time.Now().Add(time.Hour)}, 0},
		{"since an hour ago", storage.AuditQuery{WorkspaceID: f.ws.ID, Since: time.Now().Add(-time.Hour)}, 12},
		{"other workspace", storage.AuditQuery{WorkspaceID: ws2.ID}, 2},
		{"server-wide", storage.AuditQuery{}, 1},
		{"not a uuid", storage.AuditQuery{WorkspaceID: "nope"}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.st.ListAuditEvents(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Errorf("%d events, want %d", len(got), tt.want)
			}
		})
	}
	if _, err := f.st.ListAuditEvents(ctx, storage.AuditQuery{WorkspaceID: f.ws.ID, Action: "bogus"}); err == nil {
		t.Error("an unknown action was accepted")
	}
}

// TestDeleteExpiredAuditRetention: cleanup deletes events older than the
// retention, in batches, and keeps the rest.
func TestDeleteExpiredAuditRetention(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{AuditRetention: 48 * time.Hour})
	ctx := t.Context()
	for range 5 {
		if err := f.st.RecordAudit(ctx, signOutEvent(f)); err != nil {
			t.Fatal(err)
		}
	}
	// Age three of them past the retention (the trigger forbids UPDATE, so
	// do it as the table's owner would restore an old dump: with the
	// trigger disabled for this session).
	if _, err := f.st.Pool().Exec(ctx, `
		BEGIN;
		ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only;
		UPDATE audit_events SET occurred_at = now() - interval '3 days' WHERE id IN (SELECT id FROM audit_events ORDER BY id LIMIT 3);
		ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only;
		COMMIT;`); err != nil {
		t.Fatal(err)
	}
	n, err := f.st.DeleteExpired(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("DeleteExpired = %d, want 3", n)
	}
	if got := countRows(t, f.st, "audit_events", "true"); got != 2 {
		t.Errorf("%d events left, want 2", got)
	}
}

// TestRefreshReuseRecordsEvent: the deletion fosite makes when it detects
// refresh-token reuse records token.reuse_detected with the app as actor,
// the user as target, in the app's workspace; deleting an unknown token
// records nothing.
func TestRefreshReuseRecordsEvent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := storage.WithRequestSource(t.Context(), netip.MustParseAddr("192.0.2.9"), "curl/8")
	r := f.newRequest(t)
	if err := f.st.CreateRefreshTokenSession(ctx, "rt-sig", "at-sig", r); err != nil {
		t.Fatal(err)
	}
	if err := f.st.DeleteRefreshTokenSession(ctx, "unknown-sig"); err != nil {
		t.Fatal(err)
	}
	tctx, err := f.st.BeginTX(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.DeleteRefreshTokenSession(tctx, "rt-sig"); err != nil {
		t.Fatal(err)
	}
	if err := f.st.RevokeRefreshToken(tctx, r.GetID()); err != nil && !errors.Is(err, fosite.ErrNotFound) {
		t.Fatal(err)
	}
	if err := f.st.Commit(tctx); err != nil {
		t.Fatal(err)
	}
	got, err := f.st.ListAuditEvents(ctx, storage.AuditQuery{WorkspaceID: f.ws.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d events, want 1", len(got))
	}
	ev := got[0]
	if ev.Action != storage.AuditTokenReuseDetected || ev.ActorKind != storage.ActorClient || ev.ActorID != f.app.ClientID ||
		ev.TargetID != f.user.ID || ev.ClientIP.String() != "192.0.2.9" || ev.UserAgent != "curl/8" {
		t.Errorf("event = %+v", ev)
	}
}

// TestCountLoginAttemptLockStarted: only the attempt that sets a lock says
// so; the attempts that meet it afterwards do not, so the sign-in log
// records one throttled event per lock.
func TestCountLoginAttemptLockStarted(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	rule := storage.LoginThrottleRule{Limit: 1, Window: time.Hour, BaseDelay: time.Hour, MaxDelay: time.Hour}
	want := []struct{ allowed, started bool }{{true, false}, {false, true}, {false, false}, {false, false}}
	for i, w := range want {
		a, err := f.st.CountLoginAttempt(t.Context(), "acct:lock-started", rule)
		if err != nil {
			t.Fatal(err)
		}
		if a.Allowed != w.allowed || a.LockStarted != w.started {
			t.Errorf("attempt %d: allowed %v, lock started %v; want %v, %v", i+1, a.Allowed, a.LockStarted, w.allowed, w.started)
		}
	}
}

// TestRecordAccountAudit: a sign-in event is recorded against the account
// of the e-mail, ignoring case, and not at all for an unknown e-mail.
func TestRecordAccountAudit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	for _, tt := range []struct {
		email string
		want  bool
	}{
		{"ADA@example.com", true},
		{"nobody@example.com", false},
		{"ada@example.com\x00", false},
	} {
		got, err := f.st.RecordAccountAudit(t.Context(), tt.email, storage.AuditEvent{Action: storage.AuditSignInFailed})
		if err != nil || got != tt.want {
			t.Errorf("%q: recorded %v, %v; want %v", tt.email, got, err, tt.want)
		}
	}
	events, err := f.st.ListAuditEvents(t.Context(), storage.AuditQuery{WorkspaceID: f.ws.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].ActorID != f.user.ID || events[0].TargetID != f.user.ID || events[0].Action != storage.AuditSignInFailed {
		t.Errorf("events = %+v", events)
	}
	if n := countRows(t, f.st, "audit_events", "true"); n != 1 {
		t.Errorf("%d rows, want 1", n)
	}
}
