package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nextoria/authz/devdocs"
)

// consoleLog collects the console messages of the page in ctx (script
// errors, and the CSP violations Chromium reports there) from now on.
type consoleLog struct {
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

func watchConsole(ctx context.Context) *consoleLog {
	l := &consoleLog{}
	seq := chromedp.Console(ctx) // subscribes now, before any navigation
	go func() {
		for m, err := range seq {
			if err != nil {
				return
			}
			l.mu.Lock()
			l.msgs = append(l.msgs, m)
			l.mu.Unlock()
		}
	}()
	return l
}

// problems returns the errors, exceptions and warnings seen so far, except
// the browser's own request for /favicon.ico, which the site does not serve.
func (l *consoleLog) problems() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, m := range l.msgs {
		if strings.HasSuffix(m.URL, "/favicon.ico") {
			continue
		}
		switch m.Type {
		case chromedp.ConsoleError, chromedp.ConsoleException, chromedp.ConsoleWarning:
			out = append(out, m.String()+" ("+m.URL+")")
		}
	}
	return out
}

// TestBrowserDocsPages opens the docs from the sign-in page's footer and
// renders every docs page in Chromium at 1280×800 and 390×844 (screenshots
// docs-<page>-*.png), with no console error and no CSP violation: the copy
// buttons appear, so the script ran under the CSP, and one copies its
// command. The overview shows this server's issuer. The pages are shared
// between two browsers in turn, so that each stays well within its time
// limit.
func TestBrowserDocsPages(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	half := (len(devdocs.Pages) + 1) / 2
	// One browser after the other: two at once compete for the CPU.
	t.Run("first", func(t *testing.T) {
		ctx := newChrome(t)
		console := watchConsole(ctx)
		if err := chromedp.Do(ctx,
			chromedp.Navigate(s.URL+"/login"),
			chromedp.WaitVisible(`[data-testid="footer-docs"]`),
			chromedp.Click(`[data-testid="footer-docs"]`),
			chromedp.WaitVisible(`[data-testid="docs-page-overview"]`),
		); err != nil {
			t.Fatalf("follow the footer link: %v", err)
		}
		if got := text(ctx, t, `[data-testid="issuer"]`); got != s.URL {
			t.Errorf("overview shows issuer %q, want %q", got, s.URL)
		}
		checkDocsPages(t, ctx, s, devdocs.Pages[:half])

		if err := chromedp.Do(ctx,
			chromedp.Navigate(s.URL+devdocs.Page{Slug: devdocs.PageAuthCode}.Href()),
			chromedp.WaitVisible(`[data-testid="copy-code-token-code"]`),
			chromedp.Click(`[data-testid="copy-code-token-code"]`),
		); err != nil {
			t.Fatal(err)
		}
		if status, err := chromedp.Run(ctx, chromedp.Poll[string](
			`document.querySelector('[data-copy-status="code-token-code"]').textContent`, chromedp.WithPollingTimeout(5*time.Second))); err != nil || status == "" {
			t.Errorf("copy status = %q, %v", status, err)
		}
		e, _ := devdocs.ByID("token-code")
		if got := text(ctx, t, `[data-testid="code-token-code"]`); strings.TrimSpace(got) != e.Curl(s.URL) {
			t.Errorf("the page shows\n%s\nwant\n%s", got, e.Curl(s.URL))
		}
		console.check(t)
	})
	t.Run("second", func(t *testing.T) {
		ctx := newChrome(t)
		console := watchConsole(ctx)
		checkDocsPages(t, ctx, s, devdocs.Pages[half:])
		console.check(t)
	})
}

// checkDocsPages renders each page at both widths: the page is there, its
// copy buttons are shown and its own navigation entry is the current one.
func checkDocsPages(t *testing.T, ctx context.Context, s *e2eServer, pages []devdocs.Page) {
	t.Helper()
	for _, p := range pages {
		if err := chromedp.Do(ctx,
			chromedp.Navigate(s.URL+p.Href()),
			chromedp.WaitVisible(`[data-testid="docs-page-`+p.Slug+`"]`),
		); err != nil {
			t.Fatalf("%s: %v", p.Href(), err)
		}
		// The copy buttons start hidden; the script shows them, once it ran
		// under the CSP.
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](
			`document.querySelectorAll('.docs-copy button[hidden]').length === 0`, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
			t.Errorf("%s: copy buttons still hidden: %v", p.Href(), err)
		}
		if err := chromedp.Do(ctx, bothWidths(t, "docs-"+p.Slug)); err != nil {
			t.Fatalf("%s: %v", p.Href(), err)
		}
		if cur := text(ctx, t, `[aria-current="page"]`); cur != p.Title {
			t.Errorf("%s: current navigation entry %q, want %q", p.Href(), cur, p.Title)
		}
	}
}

// check fails t if the console reported a problem.
func (l *consoleLog) check(t *testing.T) {
	t.Helper()
	time.Sleep(200 * time.Millisecond) // let the last events arrive
	if p := l.problems(); len(p) > 0 {
		t.Errorf("console errors or CSP violations:\n%s", strings.Join(p, "\n"))
	}
}
