package main

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/nextoria/authz/storage"
)

// TestBrowserSecurityLog reads the trail of the full story on the Security
// log page in Chromium: reached from the settings menu, each event of the
// story shown with its actor and address, the filters by action and by
// person, and keyset pages that neither skip nor repeat an event.
func TestBrowserSecurityLog(t *testing.T) {
	t.Parallel()
	story := runAuditStory(t)
	s := story.s
	// Enough older events of another member for a second page.
	bob := s.addUser(t, "bob@example.com", s.WorkspaceID, storage.RoleMember)
	for range 60 {
		if err := s.store.RecordAudit(t.Context(), storage.AuditEvent{
			WorkspaceID: s.WorkspaceID, ActorKind: storage.ActorUser, ActorID: bob.ID,
			Action: storage.AuditSignInFailed, TargetKind: storage.TargetUser, TargetID: bob.ID,
		}); err != nil {
			t.Fatal(err)
		}
	}
	ctx := newChrome(t)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/settings/api/apps"),
		chromedp.WaitVisible(`[data-testid="login-form"]`),
		chromedp.SendKeys(`input[name="email"]`, s.Email),
		chromedp.SendKeys(`input[name="password"]`, e2ePassword),
		chromedp.Click(`[data-testid="sign-in"]`),
		chromedp.WaitVisible(`[data-testid="nav-security-log"]`),
		chromedp.Click(`[data-testid="nav-security-log"]`),
		chromedp.WaitVisible(`[data-testid="audit-list"]`),
		bothWidths(t, "settings-security-log"),
	); err != nil {
		t.Fatalf("open the security log: %v", err)
	}
	// The first page: the newest 50, Ada's sign-in of just now first.
	first := eventIDs(ctx, t)
	if len(first) != 50 {
		t.Fatalf("first page: %d events, want 50", len(first))
	}
	if a := text(ctx, t, `[data-testid="audit-event"]:first-child [data-testid="event-action"]`); a != storage.AuditSignInSucceeded {
		t.Errorf("newest event = %q", a)
	}
	// The older page: the rest, 60 + 8 of the story + this sign-in in all.
	if err := chromedp.Do(ctx, markStale(), chromedp.Click(`[data-testid="next-page"]`), waitFresh()); err != nil {
		t.Fatal(err)
	}
	all := append(first, eventIDs(ctx, t)...)
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="next-page"], [data-testid="first-page"]').length`)); err != nil || n != 1 {
		t.Errorf("the last page has %d page links (%v), want only the one to the newest", n, err)
	}
	if err := chromedp.Do(ctx, bothWidths(t, "settings-security-log-older")); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, id := range all {
		if seen[id] {
			t.Errorf("event %s shown twice", id)
		}
		seen[id] = true
	}
	if len(all) != 69 {
		t.Errorf("paged through %d events, want 69", len(all))
	}

	// Filter by action with the form: the story's one reuse detection, by
	// the app, against Ada, from the app's address.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/settings/security-log"),
		chromedp.WaitVisible(`[data-testid="audit-filter"]`),
		chromedp.SetValue(`#audit-action`, storage.AuditTokenReuseDetected),
		markStale(),
		chromedp.Click(`[data-testid="apply-filter"]`),
		waitFresh(),
	); err != nil {
		t.Fatal(err)
	}
	if loc := location(ctx, t); !strings.Contains(loc, "action=token.reuse_detected") {
		t.Errorf("filtered at %s", loc)
	}
	if ids := eventIDs(ctx, t); len(ids) != 1 {
		t.Fatalf("reuse filter: %d events, want 1", len(ids))
	}
	for sel, want := range map[string]string{
		`[data-testid="event-actor"]`:  "app " + s.ClientID,
		`[data-testid="event-target"]`: s.Email,
		`[data-testid="event-ip"]`:     "127.0.0.1",
	} {
		if got := strings.TrimSpace(text(ctx, t, sel)); got != want {
			t.Errorf("reuse event %s = %q, want %q", sel, got, want)
		}
	}
	if err := chromedp.Do(ctx, bothWidths(t, "settings-security-log-filtered")); err != nil {
		t.Fatal(err)
	}

	// Filter by person: Bob's 60 failures only, the action kept as chosen.
	if err := chromedp.Do(ctx,
		chromedp.SetValue(`#audit-action`, ""),
		chromedp.SetValue(`#audit-person`, bob.ID),
		markStale(),
		chromedp.Click(`[data-testid="apply-filter"]`),
		waitFresh(),
	); err != nil {
		t.Fatal(err)
	}
	if loc := location(ctx, t); !strings.Contains(loc, "person="+bob.ID) || strings.Contains(loc, "action=") {
		t.Errorf("filtered at %s", loc)
	}
	ids := eventIDs(ctx, t)
	actors, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid="event-actor"]')].map(e => e.textContent.trim())`))
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 50 || len(actors) != 50 {
		t.Fatalf("person filter: %d events", len(ids))
	}
	for _, a := range actors {
		if a != "bob@example.com" {
			t.Fatalf("person filter shows an event of %q", a)
		}
	}
}

// eventIDs lists the ids of the events on the page, in order.
func eventIDs(ctx context.Context, t *testing.T) []string {
	t.Helper()
	ids, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid="audit-event"]')].map(e => e.dataset.eventId)`))
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// markStale marks the page shown, so that waitFresh can tell when the
// next one has loaded.
func markStale() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`document.body.dataset.stale = "1", true`)(ctx, target)
		return err
	})
}

// waitFresh waits for a page that markStale has not marked.
func waitFresh() chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(`body:not([data-stale]) [data-testid="settings-nav"]`)
}

// location is the address of the page shown.
func location(ctx context.Context, t *testing.T) string {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
