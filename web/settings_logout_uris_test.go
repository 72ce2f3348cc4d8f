package web

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestSettingsPostLogoutRedirectURIs: the registration and settings forms
// have an optional post-logout redirect URIs field that is checked like the
// redirect URIs, kept when the form comes back with errors, saved, and shown
// on the app's page, also to members who cannot change it.
func TestSettingsPostLogoutRedirectURIs(t *testing.T) {
	t.Parallel()
	env := newSettingsEnv(t)
	b := env.signedIn(t, ownerEmail)

	// Registration: a bad URI is reported on its own field, the text kept.
	form := validAppForm(b.token(bindingAppRegister))
	form.Set("post_logout_redirect_uris", "https://acme.example/bye\nhttp://acme.example/bye")
	resp := b.postMultipart("/settings/api/apps", form, "", nil)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422", resp.StatusCode)
	}
	doc := parseHTML(t, resp.body)
	if got := textOf(oneByTestID(t, doc, "post_logout_redirect_uris-error")); !strings.Contains(got, "https") {
		t.Errorf("error = %q", got)
	}
	field := oneByTestID(t, doc, "post-logout-redirect-uris")
	if v, _ := attr(field, "aria-invalid"); v != "true" || !strings.Contains(textOf(field), "http://acme.example/bye") {
		t.Errorf("field not marked invalid or typed text lost: %q", textOf(field))
	}
	if _, required := attr(field, "required"); required {
		t.Error("the post-logout field is required")
	}

	// Registration without the field still works, and with it saves it.
	form = validAppForm(b.token(bindingAppRegister))
	form.Set("post_logout_redirect_uris", "https://acme.example/bye\r\n\r\nhttp://127.0.0.1:9999/bye\r\n")
	resp = b.postMultipart("/settings/api/apps", form, "", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("register: status %d\n%s", resp.StatusCode, resp.body)
	}
	clientID := strings.TrimPrefix(resp.Header.Get("Location"), "/settings/api/apps/")
	app, ok := env.store.app(clientID)
	if !ok || !slices.Equal(app.PostLogoutRedirectURIs, []string{"https://acme.example/bye", "http://127.0.0.1:9999/bye"}) {
		t.Fatalf("registered %q: %q", clientID, app.PostLogoutRedirectURIs)
	}

	// The settings form shows them and replaces them.
	page := b.get("/settings/api/apps/" + clientID)
	if got := textOf(oneByTestID(t, parseHTML(t, page.body), "post-logout-redirect-uris")); got != "https://acme.example/bye http://127.0.0.1:9999/bye" {
		t.Errorf("settings form shows %q", got)
	}
	upd := validAppForm(b.token(appBinding("update", clientID)))
	upd.Del("client_type")
	upd.Set("name", app.Name)
	upd.Set("redirect_uris", strings.Join(app.RedirectURIs, "\n"))
	upd["scope"] = app.Scopes
	upd.Set("post_logout_redirect_uris", "https://acme.example/signed-out")
	resp = b.postMultipart("/settings/api/apps/"+clientID, upd, "", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("update: status %d\n%s", resp.StatusCode, resp.body)
	}
	if app, _ = env.store.app(clientID); !slices.Equal(app.PostLogoutRedirectURIs, []string{"https://acme.example/signed-out"}) {
		t.Errorf("after update: %q", app.PostLogoutRedirectURIs)
	}

	// A member who cannot change the app sees them on its page.
	m := env.signedIn(t, memberEmail)
	view := parseHTML(t, m.get("/settings/api/apps/"+clientID).body)
	oneByTestID(t, view, "read-only")
	if got := textOf(oneByTestID(t, view, "post-logout-redirect-uris")); got != "https://acme.example/signed-out" {
		t.Errorf("read-only page shows %q", got)
	}
	none := parseHTML(t, m.get("/settings/api/apps/"+ownedApp).body)
	if got := textOf(oneByTestID(t, none, "post-logout-redirect-uris")); got != "None" {
		t.Errorf("app without any shows %q", got)
	}
}
