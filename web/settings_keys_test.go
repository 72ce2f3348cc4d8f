package web

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/nextoria/authz/apikey"
	"github.com/nextoria/authz/consent"
	"github.com/nextoria/authz/storage"
)

var keyPattern = regexp.MustCompile(`^` + apikey.Pattern + `$`)

// createKey posts the new-key form with a fresh token.
func (b *browser) createKey(form url.Values) response {
	b.t.Helper()
	form.Set("csrf_token", hiddenFields(b.t, b.get("/settings/api/keys/new").body).Get("csrf_token"))
	return b.postForm("/settings/api/keys", form)
}

func zapierForm() url.Values {
	return url.Values{"name": {"  Zapier Integration "}, "scope": {"projects:read", "tasks:read"}, "expiry": {"never"}}
}

func TestKeyCreatedAndShownOnce(t *testing.T) {
	t.Parallel()
	env := newSettingsEnv(t)
	b := env.signedIn(t, memberEmail) // any member may create keys

	form := parseHTML(t, b.get("/settings/api/keys/new").body)
	if got, _ := attr(oneByTestID(t, form, "name"), "placeholder"); got != "Zapier Integration" {
		t.Errorf("name placeholder = %q", got)
	}
	// API keys act for a workspace, not a person: no identity scopes.
	if n := len(byTestID(form, "scope")); n != len(consent.APICatalogue()) {
		t.Errorf("%d scope checkboxes, want %d", n, len(consent.APICatalogue()))
	}
	if strings.Contains(textOf(oneByTestID(t, form, "scopes")), "openid") {
		t.Error("the key form offers the openid scope")
	}
	if !strings.Contains(textOf(oneByTestID(t, form, "scopes")), "Create, send, and void invoices") {
		t.Error("scope descriptions missing")
	}
	for _, c := range expiryChoices {
		_, checked := attr(oneByTestID(t, form, "expiry-"+c.Value), "checked")
		if want := c.Value == "30d"; checked != want {
			t.Errorf("expiry %s checked = %v, want %v (30 days is the default)", c.Value, checked, want)
		}
	}

	resp := b.createKey(zapierForm())
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/settings/api/keys" {
		t.Fatalf("create = %d %q: %.300s", resp.StatusCode, resp.Header.Get("Location"), resp.body)
	}
	keys, _ := env.keys.List(t.Context(), "ws-1")
	if len(keys) != 1 {
		t.Fatalf("%d keys", len(keys))
	}
	k := keys[0]
	if k.Name != "Zapier Integration" || k.CreatedBy != "u-member" || !slices.Equal(k.Scopes, []string{"projects:read", "tasks:read"}) || !k.ExpiresAt.IsZero() {
		t.Errorf("created key = %+v", k)
	}

	page := b.get("/settings/api/keys")
	if page.Header.Get("Cache-Control") != "no-store" {
		t.Error("the page with the key may be cached")
	}
	doc := parseHTML(t, page.body)
	raw := textOf(oneByTestID(t, doc, "api-key"))
	if !keyPattern.MatchString(raw) || !strings.HasPrefix(raw, k.DisplayID) {
		t.Fatalf("key shown = %q (display id %q)", raw, k.DisplayID)
	}
	if strings.Contains(resp.Header.Get("Location"), raw) || strings.Contains(resp.Header.Get("Set-Cookie"), raw) {
		t.Fatal("the key travels in clear")
	}
	if _, hidden := attr(oneByTestID(t, doc, "copy-key"), "hidden"); !hidden {
		t.Error("the copy button is visible without its script")
	}
	want := "Copy the key now — it is shown only once. Treat it like a password: never commit it to source control or share it publicly."
	if got := textOf(oneByTestID(t, doc, "key-warning")); got != want {
		t.Errorf("warning = %q", got)
	}
	if got := textOf(oneByTestID(t, doc, "flash")); !strings.Contains(got, "Zapier Integration") {
		t.Errorf("flash = %q", got)
	}
	row := oneByTestID(t, doc, "key-row")
	for id, want := range map[string]string{
		"key-name":       "Zapier Integration",
		"key-status":     "Active",
		"key-display-id": k.DisplayID,
		"key-expires":    "Never",
		"key-last-used":  "Never",
	} {
		if got := textOf(oneByTestID(t, row, id)); got != want {
			t.Errorf("%s = %q, want %q", id, got, want)
		}
	}
	if got := textOf(oneByTestID(t, row, "key-scopes")); !strings.Contains(got, "projects:read") || !strings.Contains(got, "Read task data across projects") {
		t.Errorf("scopes = %q", got)
	}
	if got := textOf(oneByTestID(t, row, "key-created")); !strings.HasSuffix(got, "by you") {
		t.Errorf("created = %q", got)
	}
	oneByTestID(t, row, "revoke-key") // the creator may revoke it

	again := b.get("/settings/api/keys")
	if strings.Contains(again.body, raw) || len(byTestID(parseHTML(t, again.body), "key-once")) != 0 {
		t.Error("the key is shown again after a reload")
	}

	t.Run("another page first consumes it", func(t *testing.T) {
		if resp := b.createKey(zapierForm()); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("create = %d", resp.StatusCode)
		}
		b.get("/settings/api/apps")
		if len(byTestID(parseHTML(t, b.get("/settings/api/keys").body), "key-once")) != 0 {
			t.Error("the key waited for its page")
		}
	})
	t.Run("only its creator sees it", func(t *testing.T) {
		if resp := b.createKey(zapierForm()); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("create = %d", resp.StatusCode)
		}
		// Someone else signs in on this browser before the list is shown.
		if resp := b.postForm("/logout", url.Values{"csrf_token": {b.token(bindingLogout)}}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-out = %d", resp.StatusCode)
		}
		if resp := b.login(ownerEmail, testPassword, ""); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in = %d", resp.StatusCode)
		}
		if len(byTestID(parseHTML(t, b.get("/settings/api/keys").body), "key-once")) != 0 {
			t.Error("another member was shown the key")
		}
	})
}

func TestKeyFormErrors(t *testing.T) {
	t.Parallel()
	env := newSettingsEnv(t)
	b := env.signedIn(t, ownerEmail)
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(dateLayout)
	tests := []struct {
		name    string
		form    url.Values
		errors  []string // fields with an error
		service bool     // the form reached the service
	}{
		{"nothing", url.Values{"expiry": {"never"}}, []string{apikey.FieldName, apikey.FieldScopes}, true},
		{"unknown scope", url.Values{"name": {"x"}, "scope": {"admin"}, "expiry": {"never"}}, []string{apikey.FieldScopes}, true},
		{"no expiry choice", url.Values{"name": {"x"}, "scope": {"projects:read"}}, []string{apikey.FieldExpiresIn}, false},
		{"unknown expiry choice", url.Values{"name": {"x"}, "scope": {"projects:read"}, "expiry": {"2y"}}, []string{apikey.FieldExpiresIn}, false},
		{"date without a date", url.Values{"name": {"x"}, "scope": {"projects:read"}, "expiry": {"date"}}, []string{apikey.FieldExpiresIn}, false},
		{"date in the past", url.Values{"name": {"x"}, "scope": {"projects:read"}, "expiry": {"date"}, "expires_on": {"2020-01-01"}}, []string{apikey.FieldExpiresIn}, false},
		{"date too far", url.Values{"name": {"x"}, "scope": {"projects:read"}, "expiry": {"date"}, "expires_on": {"2999-01-01"}}, []string{apikey.FieldExpiresIn}, false},
		{"not a date", url.Values{"name": {"x"}, "scope": {"projects:read"}, "expiry": {"date"}, "expires_on": {"tomorrow"}}, []string{apikey.FieldExpiresIn}, false},
		{"date ignored unless chosen", url.Values{"name": {"x"}, "scope": {"projects:read"}, "expiry": {"30d"}, "expires_on": {"2020-01-01"}}, nil, true},
		{"tomorrow", url.Values{"name": {"x"}, "scope": {"projects:read"}, "expiry": {"date"}, "expires_on": {tomorrow}}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := env.keys.writes()
			resp := b.createKey(tt.form)
			if reached := env.keys.writes() > before; reached != tt.service {
				t.Errorf("reached the service: %v, want %v", reached, tt.service)
			}
			if len(tt.errors) == 0 {
				if resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("status = %d: %.300s", resp.StatusCode, resp.body)
				}
				return
			}
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status = %d, want 422", resp.StatusCode)
			}
			doc := parseHTML(t, resp.body)
			links := byTag(oneByTestID(t, doc, "error-summary"), "a")
			if len(links) != len(tt.errors) {
				t.Errorf("%d problems listed, want %d", len(links), len(tt.errors))
			}
			for _, field := range tt.errors {
				oneByTestID(t, doc, field+"-error")
			}
			// What was typed is kept, with a fresh token.
			if got, _ := attr(oneByTestID(t, doc, "name"), "value"); got != tt.form.Get("name") {
				t.Errorf("name kept = %q", got)
			}
			if hiddenFields(t, resp.body).Get("csrf_token") == "" {
				t.Error("no CSRF token on the form sent back")
			}
			for _, sc := range tt.form["scope"] {
				for _, in := range byTestID(doc, "scope") {
					if v, _ := attr(in, "value"); v == sc {
						if _, checked := attr(in, "checked"); !checked {
							t.Errorf("scope %s not kept", sc)
						}
					}
				}
			}
		})
	}

	// The lifetimes the service got: 30 days, and the time until tomorrow 00:00 UTC.
	env.keys.mu.Lock()
	lifetimes := slices.Clone(env.keys.lifetimes)
	env.keys.mu.Unlock()
	if n := len(lifetimes); n < 2 || lifetimes[n-2] != 30*24*time.Hour || lifetimes[n-1] <= 0 || lifetimes[n-1] > 24*time.Hour {
		t.Errorf("lifetimes = %v", lifetimes)
	}
}

func TestKeyRevokeRules(t *testing.T) {
	t.Parallel()
	env := newSettingsEnv(t)
	now := time.Now()
	put := func(id, ws, by string) {
		env.keys.put(storage.APIKey{ID: id, WorkspaceID: ws, CreatedBy: by, Name: "Key " + id, Scopes: []string{"projects:read"}, DisplayID: "nxh_" + id, CreatedAt: now})
	}
	put("k-owner", "ws-1", "u-owner")
	put("k-cli", "ws-1", "") // created from the command line
	put("k-globex", "ws-2", "u-globex")

	type want struct {
		listed  bool
		confirm int // GET of the confirmation page
		revoke  int // POST, with a valid token
	}
	tests := []struct {
		user, key string
		want      want
	}{
		{ownerEmail, "k-owner", want{true, http.StatusOK, http.StatusSeeOther}},          // its creator
		{testEmail, "k-owner", want{true, http.StatusOK, http.StatusSeeOther}},           // an administrator
		{testEmail, "k-cli", want{true, http.StatusOK, http.StatusSeeOther}},             // an administrator, no creator
		{memberEmail, "k-owner", want{true, http.StatusForbidden, http.StatusForbidden}}, // another member
		{ownerEmail, "k-cli", want{true, http.StatusForbidden, http.StatusForbidden}},
		{globexEmail, "k-owner", want{false, http.StatusNotFound, http.StatusNotFound}}, // another workspace
		{testEmail, "k-globex", want{false, http.StatusNotFound, http.StatusNotFound}},
		{testEmail, "no-such-key", want{false, http.StatusNotFound, http.StatusNotFound}},
	}
	for _, tt := range tests {
		t.Run(tt.user+" "+tt.key, func(t *testing.T) {
			b := env.signedIn(t, tt.user)
			list := parseHTML(t, b.get("/settings/api/keys").body)
			var row *html.Node
			for _, r := range byTestID(list, "key-row") {
				if id, _ := attr(r, "data-key-id"); id == tt.key {
					row = r
				}
			}
			if (row != nil) != tt.want.listed {
				t.Fatalf("listed = %v", row != nil)
			}
			if row != nil {
				canRevoke := tt.want.revoke == http.StatusSeeOther
				if got := len(byTestID(row, "revoke-key")) == 1; got != canRevoke {
					t.Errorf("revoke button shown = %v", got)
				}
				if got := len(byTestID(row, "read-only")) == 1; got == canRevoke {
					t.Errorf("read-only note shown = %v", got)
				}
			}
			confirm := b.get("/settings/api/keys/" + tt.key + "/revoke")
			if confirm.StatusCode != tt.want.confirm {
				t.Errorf("confirmation page = %d, want %d", confirm.StatusCode, tt.want.confirm)
			}
			before, _ := env.keys.get(tt.key)
			resp := b.postForm("/settings/api/keys/"+tt.key+"/revoke", url.Values{"csrf_token": {b.token(keyRevokeBinding(tt.key))}, "confirm": {"yes"}})
			if resp.StatusCode != tt.want.revoke {
				t.Fatalf("revoke = %d, want %d", resp.StatusCode, tt.want.revoke)
			}
			after, _ := env.keys.get(tt.key)
			if revoked := before.RevokedAt.IsZero() && !after.RevokedAt.IsZero(); revoked != (tt.want.revoke == http.StatusSeeOther) {
				t.Errorf("revoked = %v", revoked)
			}
			if tt.want.revoke == http.StatusSeeOther {
				doc := parseHTML(t, b.get("/settings/api/keys").body)
				if got := textOf(oneByTestID(t, doc, "flash")); !strings.Contains(got, "revoked") {
					t.Errorf("flash = %q", got)
				}
				// Put it back for the next case.
				env.keys.mu.Lock()
				for i := range env.keys.keys {
					if env.keys.keys[i].ID == tt.key {
						env.keys.keys[i].RevokedAt = time.Time{}
					}
				}
				env.keys.mu.Unlock()
			}
		})
	}
}

func TestKeyFormsNeedCSRF(t *testing.T) {
	t.Parallel()
	env := newSettingsEnv(t)
	env.keys.put(storage.APIKey{ID: "k1", WorkspaceID: "ws-1", CreatedBy: "u-owner", Name: "K", Scopes: []string{"projects:read"}, DisplayID: "nxh_k1", CreatedAt: time.Now()})
	b := env.signedIn(t, ownerEmail)
	other := env.signedIn(t, testEmail)
	tests := []struct {
		name, path, token string
		form              url.Values
	}{
		{"create without token", "/settings/api/keys", "", zapierForm()},
		{"create with the revoke token", "/settings/api/keys", b.token(keyRevokeBinding("k1")), zapierForm()},
		{"create with another browser's token", "/settings/api/keys", other.token(bindingKeyCreate), zapierForm()},
		{"revoke without token", "/settings/api/keys/k1/revoke", "", url.Values{}},
		{"revoke with another key's token", "/settings/api/keys/k1/revoke", b.token(keyRevokeBinding("k2")), url.Values{}},
		{"revoke with the create token", "/settings/api/keys/k1/revoke", b.token(bindingKeyCreate), url.Values{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.form.Set("csrf_token", tt.token)
			if resp := b.postForm(tt.path, tt.form); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status = %d, want 403", resp.StatusCode)
			}
		})
	}
	if n := env.keys.writes(); n != 0 {
		t.Errorf("%d writes reached the API key service", n)
	}
	form := url.Values{"csrf_token": {b.token(keyRevokeBinding("k1"))}}
	if resp := b.postFormHeaders("/settings/api/keys/k1/revoke", form, "Sec-Fetch-Site", "cross-site"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site revoke = %d, want 403", resp.StatusCode)
	}
	if n := env.keys.writes(); n != 0 {
		t.Errorf("a cross-site revoke reached the API key service")
	}
}

func TestKeysPageStatuses(t *testing.T) {
	t.Parallel()
	doc := parseHTML(t, renderString(t, settingsPages()["keys"]))
	var statuses []string
	for _, s := range byTestID(doc, "key-status") {
		statuses = append(statuses, textOf(s))
	}
	if !slices.Equal(statuses, []string{"Active", "Expired", "Revoked"}) {
		t.Errorf("statuses = %q", statuses)
	}
	rows := byTestID(doc, "key-row")
	if len(byTestID(rows[2], "revoke-key")) != 0 || len(byTestID(rows[2], "read-only")) != 0 {
		t.Error("a revoked key offers revocation or a read-only note")
	}
	if got := textOf(oneByTestID(t, doc, "key-revoked")); got != "1 Mar 2026, 12:00 UTC" {
		t.Errorf("revoked at = %q", got)
	}
	if got := textOf(oneByTestID(t, doc, "revoke-rules")); !strings.Contains(got, "administrators") {
		t.Errorf("the page does not say who may revoke: %q", got)
	}

	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		k    storage.APIKey
		want string
	}{
		{storage.APIKey{}, keyActive},
		{storage.APIKey{ExpiresAt: now.Add(time.Second)}, keyActive},
		{storage.APIKey{ExpiresAt: now}, keyExpired},
		{storage.APIKey{ExpiresAt: now.Add(-time.Hour), RevokedAt: now}, keyRevoked},
	} {
		if got := keyStatus(tt.k, now); got != tt.want {
			t.Errorf("keyStatus(%+v) = %q, want %q", tt.k, got, tt.want)
		}
	}
}
