package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/nextoria/authz/storage"
)

// menuLinks returns the settings menu of a page as "Group → Label" → href.
func menuLinks(t *testing.T, doc *html.Node) map[string]string {
	t.Helper()
	links := map[string]string{}
	for _, g := range findAll(doc, func(n *html.Node) bool { c, _ := attr(n, "class"); return c == "settings-nav-group" }) {
		heading := textOf(findAll(g, func(n *html.Node) bool { c, _ := attr(n, "class"); return c == "settings-nav-heading" })[0])
		for _, a := range byTag(g, "a") {
			href, _ := attr(a, "href")
			links[heading+" → "+textOf(a)] = href
		}
	}
	return links
}

// TestSettingsMenuFollowsDocs: the menu paths of the public documentation
// ("Settings → API → OAuth Applications → Register App", "Settings → API →
// New API Key") exist literally, and the signed-in home page links to every
// settings page, so each is at most two clicks away.
func TestSettingsMenuFollowsDocs(t *testing.T) {
	t.Parallel()
	env := newSettingsEnv(t)
	b := env.signedIn(t, ownerEmail)
	want := map[string]string{
		"API → OAuth Applications":  pathApps,
		"API → API keys":            pathKeys,
		"API → New API Key":         pathKeysNew,
		"Account → Authorized apps": pathAuthorized,
	}
	for _, page := range []string{"/", pathApps, pathKeys, pathAuthorized, pathAppsNew, pathKeysNew} {
		t.Run(page, func(t *testing.T) {
			resp := b.get(page)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d", resp.StatusCode)
			}
			doc := parseHTML(t, resp.body)
			got := menuLinks(t, doc)
			if len(got) != len(want) {
				t.Errorf("menu = %v, want %v", got, want)
			}
			for k, href := range want {
				if got[k] != href {
					t.Errorf("menu %q → %q, want %q", k, got[k], href)
				}
			}
			nav := byTag(doc, "nav")
			if len(nav) != 1 || !strings.HasPrefix(textOf(nav[0]), "Settings") {
				t.Errorf("the menu is not titled Settings: %d navs", len(nav))
			}
		})
	}
	// The second click: the buttons the docs name, on the pages the menu opens.
	for _, tt := range []struct{ page, testID, label, href string }{
		{pathApps, "register-app", "Register App", pathAppsNew},
		{pathKeys, "new-key", "New API Key", pathKeysNew},
	} {
		doc := parseHTML(t, b.get(tt.page).body)
		a := oneByTestID(t, doc, tt.testID)
		if href, _ := attr(a, "href"); textOf(a) != tt.label || href != tt.href {
			t.Errorf("%s: %q → %q, want %q → %q", tt.page, textOf(a), href, tt.label, tt.href)
		}
		if h1 := textOf(byTag(doc, "h1")[0]); !slices.Contains([]string{"OAuth Applications", "API keys"}, h1) {
			t.Errorf("%s: h1 = %q", tt.page, h1)
		}
	}
}

// TestIrreversibleActionsAskFirst: rotating a secret "now", revoking an
// app's access, deleting an app and revoking an API key show a confirmation
// page first; a post without the confirmation changes nothing, a post with
// it does the deed.
func TestIrreversibleActionsAskFirst(t *testing.T) {
	t.Parallel()
	env := newSettingsEnv(t)
	env.store.grants["u-owner"] = []storage.Grant{{UserID: "u-owner", ClientID: globexApp, Scopes: []string{"tasks:read"}, GrantedAt: time.Now(), LastUsedAt: time.Now()}}
	b := env.signedIn(t, ownerEmail)
	appPage := "/settings/api/apps/" + ownedApp
	grantPage := "/settings/authorized-apps/" + globexApp + "/revoke"
	before, _ := env.store.app(ownedApp)

	t.Run("rotate now without confirmation", func(t *testing.T) {
		writes := env.apps.writes()
		resp := b.postForm(appPage+"/secret", url.Values{"csrf_token": {b.token(appBinding("rotate", ownedApp))}, "overlap": {"now"}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d", resp.StatusCode)
		}
		doc := parseHTML(t, resp.body)
		oneByTestID(t, doc, "rotate-now-confirm")
		if h1 := textOf(byTag(doc, "h1")[0]); h1 != "Stop the current secret of “Owned App” now?" {
			t.Errorf("h1 = %q", h1)
		}
		form := hiddenFields(t, resp.body)
		if form.Get("overlap") != "now" || form.Get("confirm") != "yes" || form.Get("csrf_token") == "" {
			t.Errorf("confirmation form = %v", form)
		}
		if a, _ := attr(oneByTestID(t, doc, "rotate-now-form"), "action"); a != appPage+"/secret" {
			t.Errorf("action = %q", a)
		}
		if n := env.apps.writes(); n != writes {
			t.Errorf("the secret was rotated without confirmation (%d writes)", n-writes)
		}
		if after, _ := env.store.app(ownedApp); !appsEqual(before, after) {
			t.Error("the app changed")
		}
	})
	t.Run("rotate with an overlap needs no confirmation", func(t *testing.T) {
		resp := b.postForm(appPage+"/secret", url.Values{"csrf_token": {b.token(appBinding("rotate", ownedApp))}, "overlap": {"1h"}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("status = %d", resp.StatusCode)
		}
		flash := textOf(oneByTestID(t, parseHTML(t, b.get(appPage).body), "flash"))
		if !strings.Contains(flash, "for 1 hour, until ") || !strings.HasSuffix(flash, " UTC.") {
			t.Errorf("flash = %q", flash)
		}
	})
	t.Run("rotate now confirmed", func(t *testing.T) {
		confirm := b.postForm(appPage+"/secret", url.Values{"csrf_token": {b.token(appBinding("rotate", ownedApp))}, "overlap": {"now"}})
		writes := env.apps.writes()
		resp := b.postForm(appPage+"/secret", hiddenFields(t, confirm.body))
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != appPage {
			t.Fatalf("confirmed = %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if env.apps.writes() != writes+1 {
			t.Error("the confirmed rotation did not happen")
		}
		if app, _ := env.store.app(ownedApp); len(app.RotatedSecretHash) != 0 {
			t.Error("the previous secret still works after rotating now")
		}
	})
	t.Run("rotate now confirmed with a bad token", func(t *testing.T) {
		writes := env.apps.writes()
		resp := b.postForm(appPage+"/secret", url.Values{"csrf_token": {b.token(appBinding("delete", ownedApp))}, "overlap": {"now"}, "confirm": {"yes"}})
		if resp.StatusCode != http.StatusForbidden || env.apps.writes() != writes {
			t.Errorf("status = %d, writes %d", resp.StatusCode, env.apps.writes()-writes)
		}
	})

	t.Run("revoke access without confirmation", func(t *testing.T) {
		for _, resp := range []response{
			b.get(grantPage),
			b.postForm(grantPage, url.Values{"csrf_token": {b.token(grantBinding(globexApp))}}),
			b.postForm(grantPage, url.Values{"csrf_token": {b.token(grantBinding(globexApp))}, "confirm": {"no"}}),
		} {
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d", resp.StatusCode)
			}
			doc := parseHTML(t, resp.body)
			oneByTestID(t, doc, "grant-revoke-confirm")
			if h1 := textOf(byTag(doc, "h1")[0]); h1 != "Revoke the access of “Globex App”?" {
				t.Errorf("h1 = %q", h1)
			}
			if len(env.store.grants["u-owner"]) != 1 {
				t.Fatal("the grant was revoked without confirmation")
			}
		}
	})
	t.Run("revoke access of an app not authorized", func(t *testing.T) {
		if resp := b.get("/settings/authorized-apps/" + ownedApp + "/revoke"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("status = %d", resp.StatusCode)
		}
	})
	t.Run("revoke access confirmed", func(t *testing.T) {
		resp := b.postForm(grantPage, hiddenFields(t, b.get(grantPage).body))
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != pathAuthorized {
			t.Fatalf("confirmed = %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if len(env.store.grants["u-owner"]) != 0 {
			t.Error("the grant is still there")
		}
	})

	t.Run("delete without confirmation", func(t *testing.T) {
		writes := env.apps.writes()
		resp := b.postForm(appPage+"/delete", url.Values{"csrf_token": {b.token(appBinding("delete", ownedApp))}})
		if resp.StatusCode != http.StatusOK || len(byTestID(parseHTML(t, resp.body), "delete-form")) != 1 {
			t.Fatalf("status = %d", resp.StatusCode)
		}
		if _, ok := env.store.app(ownedApp); !ok || env.apps.writes() != writes {
			t.Error("the app was deleted without confirmation")
		}
		if form := hiddenFields(t, b.get(appPage+"/delete").body); form.Get("confirm") != "yes" {
			t.Errorf("the confirmation form sends %v", form)
		}
	})
	t.Run("key revocation without confirmation", func(t *testing.T) {
		key, _, err := env.keys.Create(t.Context(), "ws-1", "u-owner", "Zapier Integration", []string{"projects:read"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		resp := b.postForm(keyRevokePath(key.ID), url.Values{"csrf_token": {b.token(keyRevokeBinding(key.ID))}})
		if resp.StatusCode != http.StatusOK || len(byTestID(parseHTML(t, resp.body), "revoke-form")) != 1 {
			t.Fatalf("status = %d", resp.StatusCode)
		}
		if k, _ := env.keys.get(key.ID); !k.RevokedAt.IsZero() {
			t.Error("the key was revoked without confirmation")
		}
		confirmed := hiddenFields(t, b.get(keyRevokePath(key.ID)).body)
		if confirmed.Get("confirm") != "yes" {
			t.Errorf("the confirmation form sends %v", confirmed)
		}
		if resp := b.postForm(keyRevokePath(key.ID), confirmed); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("confirmed = %d", resp.StatusCode)
		}
		if k, _ := env.keys.get(key.ID); k.RevokedAt.IsZero() {
			t.Error("the confirmed revocation did not happen")
		}
	})
}

// TestKeyExpiryDefaultAndNeverWarning: a new key expires in 30 days unless
// chosen otherwise, and "Never" carries a warning, shown when it is chosen.
func TestKeyExpiryDefaultAndNeverWarning(t *testing.T) {
	t.Parallel()
	env := newSettingsEnv(t)
	b := env.signedIn(t, memberEmail)

	page := b.get(pathKeysNew)
	doc := parseHTML(t, page.body)
	warning := oneByTestID(t, doc, "never-warning")
	if c, _ := attr(warning, "class"); c != "never-warning" {
		t.Errorf("warning class = %q: shown before Never is chosen", c)
	}
	if !strings.Contains(textOf(warning), "never expires") {
		t.Errorf("warning = %q", textOf(warning))
	}
	if got := textOf(oneByTestID(t, doc, "expiry")); !strings.Contains(got, "Never (not recommended)") {
		t.Errorf("expiry choices = %q", got)
	}

	// The form as sent with its defaults: 30 days.
	before := time.Now()
	form := hiddenFields(t, page.body)
	form.Set("name", "Default expiry")
	form.Set("scope", "projects:read")
	form.Set("expiry", defaultExpiry)
	if resp := b.postForm(pathKeys, form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create = %d", resp.StatusCode)
	}
	keys, _ := env.keys.List(t.Context(), "ws-1")
	if len(keys) != 1 {
		t.Fatalf("%d keys", len(keys))
	}
	if exp := keys[0].ExpiresAt; exp.Before(before.Add(30*24*time.Hour)) || exp.After(time.Now().Add(30*24*time.Hour)) {
		t.Errorf("ExpiresAt = %v, want 30 days from now", exp)
	}
	flash := textOf(oneByTestID(t, parseHTML(t, b.get(pathKeys).body), "flash"))
	if want := "It expires on " + formatTime(keys[0].ExpiresAt) + "."; !strings.HasSuffix(flash, want) {
		t.Errorf("flash = %q, want it to end with %q", flash, want)
	}

	// Sent back with Never chosen, the warning is shown without script.
	form.Set("name", "")
	form.Set("expiry", expiryNever)
	resp := b.postForm(pathKeys, form)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	warning = oneByTestID(t, parseHTML(t, resp.body), "never-warning")
	if c, _ := attr(warning, "class"); !strings.Contains(c, "never-warning-shown") {
		t.Errorf("warning class = %q: hidden while Never is chosen", c)
	}

	// Created with Never, the flash warns again.
	form.Set("name", "No expiry")
	if resp := b.postForm(pathKeys, form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create with Never = %d", resp.StatusCode)
	}
	if flash := textOf(oneByTestID(t, parseHTML(t, b.get(pathKeys).body), "flash")); !strings.Contains(flash, "never expires") {
		t.Errorf("flash = %q", flash)
	}
}

func TestFormatTime(t *testing.T) {
	t.Parallel()
	paris := time.FixedZone("CET", 3600)
	for _, tt := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC), "2 Jan 2026, 15:04 UTC"},
		{time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC), "31 Dec 2026, 00:00 UTC"},
		{time.Date(2026, 3, 1, 0, 30, 0, 0, paris), "28 Feb 2026, 23:30 UTC"}, // shown in UTC
		{time.Date(2026, 7, 9, 9, 5, 59, 999, time.UTC), "9 Jul 2026, 09:05 UTC"},
	} {
		if got := formatTime(tt.in); got != tt.want {
			t.Errorf("formatTime(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// Every page shows instants through the timestamp component.
	out := renderString(t, timestamp(time.Date(2026, 1, 2, 15, 4, 5, 0, paris)))
	if want := `<time datetime="2026-01-02T14:04:05Z">2 Jan 2026, 14:04 UTC</time>`; out != want {
		t.Errorf("timestamp = %s, want %s", out, want)
	}
}

func TestURIParts(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"https://yourapp.com/callback", []string{"https://yourapp.com/", "callback"}},
		{"http://127.0.0.1:9/oauth/cb?x=1&y=2#top", []string{"http://127.0.0.1:9/", "oauth/", "cb", "?x=1", "&y=2", "#top"}},
		{"https://a.example/", []string{"https://a.example/"}},
		{"com.example.app:/cb", []string{"com.example.app:/", "cb"}},
		{"https://x.example/a/<b>", []string{"https://x.example/", "a/", "<b>"}},
		{"", nil},
	} {
		if got := uriParts(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("uriParts(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := strings.Join(uriParts(tt.in), ""); got != tt.in {
			t.Errorf("parts of %q join to %q", tt.in, got)
		}
	}
	for in, want := range map[string]string{
		"https://yourapp.com/callback?a=1": `<code class="uri">https://yourapp.com/<wbr>callback<wbr>?a=1</code>`,
		`https://x.example/"><b>`:          `<code class="uri">https://x.example/<wbr>&#34;&gt;&lt;b&gt;</code>`,
	} {
		if out := renderString(t, uri(in)); out != want {
			t.Errorf("uri(%q) = %s, want %s", in, out, want)
		}
	}
}
