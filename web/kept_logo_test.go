package web

import (
	"bytes"
	"encoding/base64"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/nextoria/authz/apps"
	"github.com/nextoria/authz/apps/appstest"
)

// formResponse is a response to a posted app form.
type formResponse struct {
	status int
	header http.Header
	body   string
}

// postAppForm posts fields as multipart to path, with logo as the logo file
// unless it is nil.
func (e *dbEnv) postAppForm(t *testing.T, path string, fields url.Values, logo []byte) formResponse {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, vs := range fields {
		for _, v := range vs {
			if err := mw.WriteField(k, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	if logo != nil {
		fw, err := mw.CreateFormFile("logo", "logo.png")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write(logo)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.ts.URL+path, &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return formResponse{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// registrationFields is a valid registration form but for name.
func (e *dbEnv) registrationFields(t *testing.T, name string) url.Values {
	return url.Values{"csrf_token": {e.token(t, bindingAppRegister)}, "name": {name},
		"redirect_uris": {"https://globex.example/cb"}, "scope": {"projects:read"}, "client_type": {"confidential"}}
}

// keptLogoOf returns the kept logo of a form sent back, checking that the
// preview shows exactly it; "" when the form keeps none.
func keptLogoOf(t *testing.T, page string) string {
	t.Helper()
	doc := parseHTML(t, page)
	kept := hiddenFields(t, page).Get(fieldKeptLogo)
	preview := oneByTestID(t, doc, "logo-preview")
	src, hasSrc := attr(preview, "src")
	_, hidden := attr(preview, "hidden")
	if kept == "" {
		if hasSrc || !hidden || len(byTestID(doc, "remove-kept-logo")) != 0 {
			t.Errorf("no logo is kept, yet the preview shows %q (hidden %v) or offers to remove it", src, hidden)
		}
		return ""
	}
	if src != "data:image/png;base64,"+kept || hidden {
		t.Errorf("preview src = %.60q (hidden %v), want the kept logo", src, hidden)
	}
	oneByTestID(t, doc, "remove-kept-logo")
	return kept
}

// pngSize decodes the dimensions of a PNG.
func pngSize(t *testing.T, b []byte) (int, int) {
	t.Helper()
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	return cfg.Width, cfg.Height
}

// TestRegisterKeepsLogo: a registration sent back with errors keeps the
// valid logo it carried, shown as the preview; sending the form again with
// no new file registers the app with that logo, unless the logo was removed.
func TestRegisterKeepsLogo(t *testing.T) {
	t.Parallel()
	e := newDBEnv(t)
	before := e.countApps(t)

	resp := e.postAppForm(t, pathApps, e.registrationFields(t, "   "), appstest.PNG(512, 384))
	if resp.status != http.StatusUnprocessableEntity {
		t.Fatalf("status = %d, want 422", resp.status)
	}
	if csp := resp.header.Get("Content-Security-Policy"); !cspPreviewPattern.MatchString(csp) {
		t.Errorf("CSP = %q, want img-src 'self' data: blob:", csp)
	}
	doc := parseHTML(t, resp.body)
	oneByTestID(t, doc, "name-error")
	if len(byTestID(doc, "logo-error")) != 0 || len(byTestID(doc, "form-notice")) != 0 {
		t.Error("the valid logo is reported, or the form asks to choose it again")
	}
	kept := keptLogoOf(t, resp.body)
	if kept == "" {
		t.Fatal("the valid logo is not kept")
	}
	data, err := base64.StdEncoding.DecodeString(kept)
	if err != nil {
		t.Fatalf("kept logo is not base64: %v", err)
	}
	// It is the normalized PNG, scaled down to the stored size.
	if w, h := pngSize(t, data); w != apps.StoredLogoSide || h != 192 || len(data) > apps.MaxLogoBytes {
		t.Errorf("kept logo is %dx%d, %d bytes; want 256x192, at most 256 KiB", w, h, len(data))
	}
	if n := e.countApps(t); n != before {
		t.Fatalf("%d apps after the failed attempt, want %d", n, before)
	}

	t.Run("sent again without a file", func(t *testing.T) {
		fields := e.registrationFields(t, "Globex")
		fields.Set(fieldKeptLogo, kept)
		resp := e.postAppForm(t, pathApps, fields, nil)
		if resp.status != http.StatusSeeOther {
			t.Fatalf("status = %d, want 303: %.300s", resp.status, resp.body)
		}
		clientID := strings.TrimPrefix(resp.header.Get("Location"), pathApps+"/")
		logo, err := e.store.GetAppLogo(t.Context(), clientID)
		if err != nil {
			t.Fatalf("the app has no logo: %v", err)
		}
		if w, h := pngSize(t, logo.Data); w != 256 || h != 192 || logo.ContentType != "image/png" {
			t.Errorf("stored logo %s %dx%d", logo.ContentType, w, h)
		}
	})
	t.Run("removed", func(t *testing.T) {
		fields := e.registrationFields(t, "Initech")
		fields.Set(fieldKeptLogo, kept)
		fields.Set(fieldRemoveKeptLogo, "1")
		resp := e.postAppForm(t, pathApps, fields, nil)
		if resp.status != http.StatusSeeOther {
			t.Fatalf("status = %d, want 303", resp.status)
		}
		clientID := strings.TrimPrefix(resp.header.Get("Location"), pathApps+"/")
		app, err := e.store.GetApp(t.Context(), clientID)
		if err != nil || app.HasLogo {
			t.Errorf("app = %+v, %v; want it without a logo", app, err)
		}
	})
	t.Run("a new file wins", func(t *testing.T) {
		fields := e.registrationFields(t, "Hooli")
		fields.Set(fieldKeptLogo, kept)
		resp := e.postAppForm(t, pathApps, fields, appstest.PNG(40, 40))
		if resp.status != http.StatusSeeOther {
			t.Fatalf("status = %d, want 303", resp.status)
		}
		logo, err := e.store.GetAppLogo(t.Context(), strings.TrimPrefix(resp.header.Get("Location"), pathApps+"/"))
		if err != nil {
			t.Fatal(err)
		}
		if w, h := pngSize(t, logo.Data); w != 40 || h != 40 {
			t.Errorf("stored logo %dx%d, want the new 40x40 file", w, h)
		}
	})
	t.Run("kept again through another error", func(t *testing.T) {
		fields := e.registrationFields(t, "")
		fields.Set(fieldKeptLogo, kept)
		resp := e.postAppForm(t, pathApps, fields, nil)
		if resp.status != http.StatusUnprocessableEntity {
			t.Fatalf("status = %d, want 422", resp.status)
		}
		if again := keptLogoOf(t, resp.body); again == "" {
			t.Error("the kept logo is lost on the second error")
		}
	})
}

// TestKeptLogoIsValidatedAgain: the kept logo comes back from the browser,
// so a tampered one is refused like a bad file, and nothing is created.
func TestKeptLogoIsValidatedAgain(t *testing.T) {
	t.Parallel()
	e := newDBEnv(t)
	before := e.countApps(t)
	b64 := base64.StdEncoding.EncodeToString
	tests := []struct {
		name, kept, want string
	}{
		{"not an image", b64([]byte("<html>hello</html>")), "PNG, JPEG or WebP"},
		{"svg", b64([]byte(appstest.SVG)), "PNG, JPEG or WebP"},
		{"oversized", b64(appstest.Oversized(300 << 10)), "at most 256 KiB"},
		{"not base64", "%%% not base64 %%%", "PNG, JPEG or WebP"},
		{"decompression bomb", b64(appstest.PNGBomb()), "between 16x16 and 1024x1024"},
		{"too small", b64(appstest.PNG(8, 8)), "between 16x16 and 1024x1024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields := e.registrationFields(t, "Globex")
			fields.Set(fieldKeptLogo, tt.kept)
			resp := e.postAppForm(t, pathApps, fields, nil)
			if resp.status != http.StatusUnprocessableEntity {
				t.Fatalf("status = %d, want 422", resp.status)
			}
			doc := parseHTML(t, resp.body)
			if got := textOf(oneByTestID(t, doc, "logo-error")); !strings.Contains(got, tt.want) {
				t.Errorf("logo error = %q, want %q", got, tt.want)
			}
			if keptLogoOf(t, resp.body) != "" {
				t.Error("a refused logo is kept")
			}
		})
	}
	if n := e.countApps(t); n != before {
		t.Errorf("%d apps, want %d: a tampered logo created one", n, before)
	}
}

// TestKeptLogoNotKeepable: a narrow logo is valid, but scaled down it falls
// below the smallest side and would be refused when sent again, so it is
// not kept and the form says to choose it again.
func TestKeptLogoNotKeepable(t *testing.T) {
	t.Parallel()
	e := newDBEnv(t)
	resp := e.postAppForm(t, pathApps, e.registrationFields(t, ""), appstest.PNG(1024, 16))
	if resp.status != http.StatusUnprocessableEntity {
		t.Fatalf("status = %d, want 422", resp.status)
	}
	if keptLogoOf(t, resp.body) != "" {
		t.Error("a logo that would be refused when sent again is kept")
	}
	if got := textOf(oneByTestID(t, parseHTML(t, resp.body), "form-notice")); !strings.Contains(got, "choose it again") {
		t.Errorf("notice = %q", got)
	}
}

// TestUpdateKeepsLogo: the settings form of an app keeps a valid new logo
// across an error too, and saving it again replaces the app's logo.
func TestUpdateKeepsLogo(t *testing.T) {
	t.Parallel()
	e := newDBEnv(t)
	path := appPath(e.clientID)
	fields := func(name string) url.Values {
		return url.Values{"csrf_token": {e.token(t, appBinding("update", e.clientID))}, "name": {name},
			"redirect_uris": {"https://acme.example/cb"}, "scope": {"projects:read"}}
	}
	status, page := e.send(t, http.MethodGet, path, "", nil)
	if status != http.StatusOK || keptLogoOf(t, page) != "" {
		t.Fatalf("app page = %d, or it shows a kept logo", status)
	}

	resp := e.postAppForm(t, path, fields(""), appstest.PNG(64, 64))
	if resp.status != http.StatusUnprocessableEntity {
		t.Fatalf("status = %d, want 422", resp.status)
	}
	if csp := resp.header.Get("Content-Security-Policy"); !cspPreviewPattern.MatchString(csp) {
		t.Errorf("CSP = %q", csp)
	}
	kept := keptLogoOf(t, resp.body)
	if kept == "" {
		t.Fatal("the valid logo is not kept")
	}
	if app, err := e.store.GetApp(t.Context(), e.clientID); err != nil || app.HasLogo {
		t.Fatalf("the failed update changed the logo: %+v, %v", app, err)
	}

	f := fields("Acme Sync 2")
	f.Set(fieldKeptLogo, kept)
	resp = e.postAppForm(t, path, f, nil)
	if resp.status != http.StatusSeeOther {
		t.Fatalf("status = %d, want 303: %.300s", resp.status, resp.body)
	}
	logo, err := e.store.GetAppLogo(t.Context(), e.clientID)
	if err != nil {
		t.Fatalf("the app has no logo: %v", err)
	}
	if w, h := pngSize(t, logo.Data); w != 64 || h != 64 {
		t.Errorf("stored logo %dx%d", w, h)
	}

	// A tampered kept logo changes nothing.
	f = fields("Acme Sync 3")
	f.Set(fieldKeptLogo, base64.StdEncoding.EncodeToString([]byte(appstest.SVG)))
	if resp := e.postAppForm(t, path, f, nil); resp.status != http.StatusUnprocessableEntity {
		t.Fatalf("tampered: status = %d, want 422", resp.status)
	}
	if app, err := e.store.GetApp(t.Context(), e.clientID); err != nil || app.Name != "Acme Sync 2" {
		t.Errorf("app after a tampered update = %+v, %v", app, err)
	}
}
