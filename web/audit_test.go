package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/nextoria/authz/storage"
)

// TestSignInAuditEvents: a wrong password for an account records
// signin.failed against it; an unknown e-mail records nothing; a sign-in
// records signin.succeeded and a sign-out signout, each with the request's
// address and browser.
func TestSignInAuditEvents(t *testing.T) {
	t.Parallel()
	env := newSettingsEnv(t)
	b := env.browser(t)
	if resp := b.login("nobody@example.com", "whatever", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unknown e-mail: %d", resp.StatusCode)
	}
	if got := env.audit.actions(); len(got) != 0 {
		t.Fatalf("an unknown e-mail was recorded: %v", got)
	}
	if resp := b.login(ownerEmail, "wrong password", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	if resp := b.login(ownerEmail, testPassword, ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	if resp := b.postForm("/logout", url.Values{"csrf_token": {b.token(bindingLogout)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", resp.StatusCode)
	}
	want := []string{storage.AuditSignInFailed, storage.AuditSignInSucceeded, storage.AuditSignOut}
	if got := env.audit.actions(); !slices.Equal(got, want) {
		t.Fatalf("actions = %v, want %v", got, want)
	}
	for _, ev := range env.audit.events {
		if ev.WorkspaceID != "ws-1" || ev.ActorID != "u-owner" || ev.TargetID != "u-owner" {
			t.Errorf("%s: workspace %q actor %q target %q", ev.Action, ev.WorkspaceID, ev.ActorID, ev.TargetID)
		}
		if !ev.ClientIP.IsLoopback() || !strings.HasPrefix(ev.UserAgent, "Go-http-client") {
			t.Errorf("%s: ip %v, user agent %q", ev.Action, ev.ClientIP, ev.UserAgent)
		}
	}
}

// TestSignInThrottledAuditEvent: a lock is recorded once, by the attempt
// that set it, and only for an existing account.
func TestSignInThrottledAuditEvent(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, func(c *Config) {
		r := storage.LoginThrottleRule{Limit: 1, Window: 15 * 60e9, BaseDelay: 60e9, MaxDelay: 60e9}
		c.LoginThrottle = LoginThrottlePolicy{IP: storage.LoginThrottleRule{Limit: 100, Window: 15 * 60e9, BaseDelay: 1e9, MaxDelay: 60e9}, AccountIP: r, Account: r}
	})
	env.store.addUser("u-1", testEmail, "ws-1", storage.RoleMember)
	b := env.browser(t)
	codes := []int{}
	for range 4 {
		codes = append(codes, b.login(testEmail, "wrong", "").StatusCode)
		codes = append(codes, b.login("stranger@example.com", "wrong", "").StatusCode)
	}
	if !slices.Contains(codes, http.StatusTooManyRequests) {
		t.Fatalf("never throttled: %v", codes)
	}
	var throttled int
	for _, ev := range env.audit.events {
		if ev.Action == storage.AuditSignInThrottled {
			throttled++
			if ev.TargetID != "u-1" || ev.Details["limit"] != "acctip" {
				t.Errorf("throttled event = %+v", ev)
			}
		}
	}
	if throttled != 1 {
		t.Errorf("%d throttled events, want 1 (one lock of one account; %v)", throttled, env.audit.actions())
	}
}

// TestSecurityLogPage: administrators see their workspace's events, newest
// first, filtered and paged; members get 403 and no menu entry.
func TestSecurityLogPage(t *testing.T) {
	t.Parallel()
	env := newSettingsEnv(t)
	env.store.addUser("u-admin", "admin@example.com", "ws-1", storage.RoleAdmin)

	member := env.signedIn(t, memberEmail)
	if resp := member.get(pathSecurityLog); resp.StatusCode != http.StatusForbidden {
		t.Errorf("member: status %d, want 403", resp.StatusCode)
	}
	if strings.Contains(member.get(pathApps).body, pathSecurityLog) {
		t.Error("a member's menu links to the security log")
	}
	env.signedIn(t, globexEmail) // an event of another workspace

	admin := env.signedIn(t, "admin@example.com")
	for range 60 {
		env.srv.recordAudit(t.Context(), storage.AuditEvent{WorkspaceID: "ws-1", ActorKind: storage.ActorUser,
			ActorID: "u-owner", Action: storage.AuditAPIKeyRevoked, TargetKind: storage.TargetAPIKey, TargetID: "k"})
	}
	first := admin.get(pathSecurityLog)
	if first.StatusCode != http.StatusOK {
		t.Fatalf("admin: status %d", first.StatusCode)
	}
	doc := parseHTML(t, first.body)
	rows := byTestID(doc, "audit-event")
	if len(rows) != securityLogPage {
		t.Fatalf("%d rows, want %d", len(rows), securityLogPage)
	}
	if !strings.Contains(first.body, `href="`+pathSecurityLog+`"`) {
		t.Error("the admin's menu has no security log entry")
	}
	next, _ := attr(oneByTestID(t, doc, "next-page"), "href")
	second := admin.get(next)
	doc2 := parseHTML(t, second.body)
	rows2 := byTestID(doc2, "audit-event")
	// 60 revocations + the member's, the admin's sign-ins: 62 in ws-1.
	if len(rows2) != 12 || len(byTestID(doc2, "next-page")) != 0 || len(byTestID(doc2, "first-page")) != 1 {
		t.Fatalf("second page: %d rows, next %d, first %d", len(rows2), len(byTestID(doc2, "next-page")), len(byTestID(doc2, "first-page")))
	}
	ids := map[string]bool{}
	for _, r := range append(rows, rows2...) {
		id, _ := attr(r, "data-event-id")
		if ids[id] {
			t.Errorf("event %s shown twice", id)
		}
		ids[id] = true
	}
	oldest := rows2[len(rows2)-1]
	if a, _ := attr(oldest, "data-action"); a != storage.AuditSignInSucceeded {
		t.Errorf("oldest event = %s, want the member's sign-in", a)
	}

	// Filters: by action, by person.
	byAction := parseHTML(t, admin.get(pathSecurityLog+"?action="+storage.AuditSignInSucceeded).body)
	if n := len(byTestID(byAction, "audit-event")); n != 2 {
		t.Errorf("action filter: %d rows, want 2", n)
	}
	byPerson := parseHTML(t, admin.get(pathSecurityLog+"?person=u-member").body)
	if rows := byTestID(byPerson, "audit-event"); len(rows) != 1 || !strings.Contains(textOf(rows[0]), memberEmail) {
		t.Errorf("person filter: %d rows", len(rows))
	}
	for _, bad := range []string{"?action=app.exploded", "?person=u-globex", "?after=zzz", "?person=%ff"} {
		if resp := admin.get(pathSecurityLog + bad); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", bad, resp.StatusCode)
		}
	}
}
