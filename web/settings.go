package web

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/nextoria/authz/apps"
	"github.com/nextoria/authz/storage"
)

// Paths of the settings pages.
const (
	pathSettings   = "/settings"
	pathApps       = "/settings/api/apps"
	pathAppsNew    = "/settings/api/apps/new"
	pathKeys       = "/settings/api/keys"
	pathKeysNew    = "/settings/api/keys/new"
	pathRegTokens  = "/settings/api/registration-tokens"
	pathAuthorized = "/settings/authorized-apps"
)

// Navigation entries of the settings layout.
const (
	navApps       = "apps"
	navKeys       = "api-keys"
	navKeyNew     = "new-api-key"
	navRegTokens  = "registration-tokens"
	navAuthorized = "authorized-apps"
)

// navItem is an entry of the settings navigation; AdminOnly entries are
// shown to the workspace's administrators only.
type navItem struct {
	ID, Label, Href string
	AdminOnly       bool
}

// navGroup is a section of the settings navigation.
type navGroup struct {
	ID, Label string
	Items     []navItem
}

// settingsNav is the settings navigation, in order. Its labels follow the
// public documentation's menu paths literally ("Settings → API → OAuth
// Applications → Register App", "Settings → API → New API Key"); the home
// page shows the same menu, so every settings page is two clicks from it.
var settingsNav = []navGroup{
	{"api", "API", []navItem{
		{navApps, "OAuth Applications", pathApps, false},
		{navKeys, "API keys", pathKeys, false},
		{navKeyNew, "New API Key", pathKeysNew, false},
		{navRegTokens, "Registration tokens", pathRegTokens, true},
	}},
	{"account", "Account", []navItem{
		{navAuthorized, "Authorized apps", pathAuthorized, false},
	}},
	{"workspace", "Workspace", []navItem{
		{navSecurityLog, "Security log", pathSecurityLog, true},
	}},
}

// visibleNav is the settings navigation as a person of role sees it: without
// the entries, and groups, meant for administrators only.
func visibleNav(role string) []navGroup {
	var out []navGroup
	for _, g := range settingsNav {
		var items []navItem
		for _, it := range g.Items {
			if !it.AdminOnly || role == storage.RoleAdmin {
				items = append(items, it)
			}
		}
		if len(items) > 0 {
			out = append(out, navGroup{ID: g.ID, Label: g.Label, Items: items})
		}
	}
	return out
}

// settingsRoutes registers the signed-in settings pages. Every form posts
// back with a CSRF token bound to its purpose and object; the whole tree is
// also behind a same-origin check, so a form from another site is refused
// before it is read.
func (s *Server) settingsRoutes(mux *http.ServeMux) {
	get := func(pattern string, h principalHandler) {
		mux.Handle("GET "+pattern, s.signedIn(h))
	}
	post := func(pattern string, h principalHandler) {
		mux.Handle("POST "+pattern, s.sameOrigin(s.signedIn(h)))
	}
	get(pathSettings, func(w http.ResponseWriter, _ *http.Request, _ storage.Principal) { seeOther(w, pathApps) })
	get(pathApps, s.handleAppsList)
	get(pathAppsNew, s.handleAppNew)
	post(pathApps, s.handleAppCreate)
	get(pathApps+"/{client_id}", s.handleAppDetail)
	post(pathApps+"/{client_id}", s.handleAppUpdate)
	post(pathApps+"/{client_id}/secret", s.handleAppRotate)
	get(pathApps+"/{client_id}/delete", s.handleAppDeleteConfirm)
	post(pathApps+"/{client_id}/delete", s.handleAppDelete)
	get(pathKeys, s.handleKeys)
	get(pathKeysNew, s.handleKeyNew)
	post(pathKeys, s.handleKeyCreate)
	get(pathKeys+"/{id}/revoke", s.handleKeyRevokeConfirm)
	post(pathKeys+"/{id}/revoke", s.handleKeyRevoke)
	get(pathRegTokens, s.handleRegTokens)
	post(pathRegTokens, s.handleRegTokenCreate)
	get(pathRegTokens+"/{id}/revoke", s.handleRegTokenRevokeConfirm)
	post(pathRegTokens+"/{id}/revoke", s.handleRegTokenRevoke)
	get(pathAuthorized, s.handleGrants)
	get(pathAuthorized+"/{client_id}/revoke", s.handleGrantRevokeConfirm)
	get(pathSecurityLog, s.handleSecurityLog)
	post(pathAuthorized+"/{client_id}/revoke", s.handleGrantRevoke)
}

// principalHandler serves a signed-in user.
type principalHandler func(w http.ResponseWriter, r *http.Request, p storage.Principal)

// signedIn runs h for a signed-in browser and sends any other to the sign-in
// page, which brings it back to the page afterwards (for a form post, to the
// page the form was on).
func (s *Server) signedIn(h principalHandler) http.Handler {
	return s.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok, err := s.LoadPrincipal(r)
		if err != nil {
			s.log.ErrorContext(r.Context(), "load signed-in user", "error", err)
			s.renderStoreError(w, r, err)
			return
		}
		if !ok {
			s.RedirectToLogin(w, r, returnPath(r))
			return
		}
		h(w, r, p)
	}))
}

// returnPath is the page to come back to after signing in.
func returnPath(r *http.Request) string {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return r.URL.RequestURI()
	}
	p := r.URL.Path
	switch {
	case p == pathApps:
		return pathAppsNew
	case p == pathKeys:
		return pathKeysNew
	case strings.HasPrefix(p, pathAuthorized+"/"):
		return pathAuthorized
	case strings.HasPrefix(p, pathKeys+"/"):
		return pathKeys
	case strings.HasPrefix(p, pathRegTokens):
		return pathRegTokens
	case strings.HasSuffix(p, "/secret"), strings.HasSuffix(p, "/delete"):
		return path.Dir(p)
	}
	return p
}

// sameOrigin refuses cross-origin form posts (Sec-Fetch-Site, or Origin
// against Host) with the error page, before the handler reads anything. The
// server wraps every route in the same check; this keeps the settings forms
// safe wherever the routes are mounted.
func (s *Server) sameOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(s.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.WarnContext(r.Context(), "cross-origin form refused", "path", r.URL.Path)
		s.RenderError(w, r, http.StatusForbidden, "This form was sent from another site",
			"For your safety the request was refused. Go back and try again from this site.")
	})))
	return cop.Handler(next)
}

// settingsChrome is what the settings layout shows around every page.
type settingsChrome struct {
	Principal   storage.Principal
	Section     string // the current navigation entry
	LogoutToken string
	Flash       string // a one-time message from the previous action
}

// chrome prepares the layout of a settings page. It takes the flash message
// and any pending one-time secret out of the session cookie, so that a
// reload shows neither; call it before rendering. The page shows the secret
// only if it belongs there (oneTime.of).
func (s *Server) chrome(w http.ResponseWriter, r *http.Request, p storage.Principal, section string) (settingsChrome, oneTime) {
	c := settingsChrome{Principal: p, Section: section, LogoutToken: s.CSRFToken(r, bindingLogout)}
	var secret oneTime
	c.Flash, secret = s.takeOneTime(w, r)
	return c, secret
}

// Session cookie values of one-time messages. Like the others they are
// strings, so gob needs no registration, and the cookie is encrypted.
const (
	keyFlash       = "flash"
	keySecretApp   = "secret_app" // owner of the one-time secret (see oneTime)
	keySecretValue = "secret"     // the secret, in clear, until shown
	keySecretAt    = "secret_at"  // when it was stored (Unix seconds)
)

// secretShowWindow bounds how long a new client secret or API key waits in
// the cookie for its page to be shown.
const secretShowWindow = 10 * time.Minute

// oneTime is a secret taken out of the session cookie to be shown once:
// a client secret, owned by its app's client_id, or an API key, owned by
// apiKeyOwner(id). Client IDs never contain a colon, so the two cannot be
// confused. The zero value is no secret.
type oneTime struct {
	owner, value string
}

// apiKeyOwner is the owner of the one-time secret of API key id.
func apiKeyOwner(id string) string { return "api-key:" + id }

// of returns the secret when it belongs to owner, and "" otherwise.
func (o oneTime) of(owner string) string {
	if owner == "" || o.owner != owner {
		return ""
	}
	return o.value
}

// finish stores a flash message, and a one-time secret belonging to owner
// when secret is not empty, then answers with a 303 to location. The secret
// travels in the encrypted, HttpOnly session cookie, never in a URL, and is
// deleted by the next settings page, which shows it if it belongs there.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, location, flash, owner, secret string) {
	sess := s.session(r)
	if flash != "" {
		sess.Values[keyFlash] = flash
	}
	delete(sess.Values, keySecretApp)
	delete(sess.Values, keySecretValue)
	delete(sess.Values, keySecretAt)
	if secret != "" {
		sess.Values[keySecretApp] = owner
		sess.Values[keySecretValue] = secret
		sess.Values[keySecretAt] = strconv.FormatInt(time.Now().Unix(), 10)
	}
	if err := s.saveSession(w, r, sess); err != nil {
		s.log.ErrorContext(r.Context(), "save one-time message", "error", err)
	}
	seeOther(w, location)
}

// takeOneTime removes the flash message and any pending secret from the
// session and returns them; the secret only within secretShowWindow.
// Whatever page comes first consumes the secret, so it is shown at most
// once.
func (s *Server) takeOneTime(w http.ResponseWriter, r *http.Request) (flash string, secret oneTime) {
	if r.Method == http.MethodHead {
		return "", oneTime{} // a HEAD shows nothing, so it must consume nothing
	}
	sess := s.session(r)
	flash = stringValue(sess, keyFlash)
	owner, value, at := stringValue(sess, keySecretApp), stringValue(sess, keySecretValue), stringValue(sess, keySecretAt)
	if flash == "" && value == "" && owner == "" {
		return "", oneTime{}
	}
	delete(sess.Values, keyFlash)
	delete(sess.Values, keySecretApp)
	delete(sess.Values, keySecretValue)
	delete(sess.Values, keySecretAt)
	if err := s.saveSession(w, r, sess); err != nil {
		// Not shown, since it could not be deleted.
		s.log.ErrorContext(r.Context(), "clear one-time message", "error", err)
		return "", oneTime{}
	}
	stored, err := strconv.ParseInt(at, 10, 64)
	if value != "" && owner != "" && err == nil && time.Since(time.Unix(stored, 0)) < secretShowWindow {
		secret = oneTime{owner: owner, value: value}
	}
	return flash, secret
}

// maxUploadBytes bounds the body of the forms that carry a logo: a new file
// at the logo's own limit (apps.MaxLogoBytes), the logo kept from a previous
// attempt (base64 of a PNG of at most apps.MaxLogoBytes, about 342 KiB: a
// browser without script sends both when another file is chosen) and room
// for the other fields and the multipart framing. A larger body is refused
// with 413 before it is parsed.
const maxUploadBytes = 1 << 20

// upload is a parsed app form.
type upload struct {
	form url.Values
	// logo is the uploaded file, cut at apps.MaxLogoBytes+1 bytes (enough
	// for the size check); nil when no file was chosen.
	logo []byte
	// tooLarge reports a body over maxUploadBytes: nothing was read.
	tooLarge bool
}

// readUpload parses a multipart (or URL-encoded) form of at most
// maxUploadBytes. It answers 415 and 400 itself and reports false then (400
// also for a field that is not valid text, except the name, redirect URIs
// and scopes, which registration reports as field errors); a
// body that is too large is reported in upload.tooLarge, so that the caller
// can show its form again with status 413.
func (s *Server) readUpload(w http.ResponseWriter, r *http.Request) (upload, bool) {
	if r.ContentLength > maxUploadBytes {
		return upload{tooLarge: true}, true
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxUploadBytes)
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case err == nil && mt == "multipart/form-data":
		err = r.ParseMultipartForm(maxUploadBytes)
		if r.MultipartForm != nil {
			defer func() { _ = r.MultipartForm.RemoveAll() }()
		}
	case err == nil && mt == "application/x-www-form-urlencoded":
		err = r.ParseForm()
	default:
		s.RenderError(w, r, http.StatusUnsupportedMediaType, "Unsupported form",
			"This form can only be sent from its page in a web browser.")
		return upload{}, false
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return upload{tooLarge: true}, true
		}
		s.log.InfoContext(r.Context(), "unreadable form", "error", err)
		s.RenderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read. Go back and try again.")
		return upload{}, false
	}
	if !s.checkFormText(w, r, "name", "redirect_uris", "post_logout_redirect_uris", "scope") {
		return upload{}, false
	}
	u := upload{form: r.PostForm}
	if r.MultipartForm == nil {
		return u, true
	}
	files := r.MultipartForm.File["logo"]
	if len(files) == 0 || (files[0].Filename == "" && files[0].Size == 0) {
		return u, true // the file input was left empty
	}
	f, err := files[0].Open()
	if err != nil {
		s.log.ErrorContext(r.Context(), "open uploaded logo", "error", err)
		s.renderInternalError(w, r)
		return upload{}, false
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, apps.MaxLogoBytes+1))
	if err != nil {
		s.log.ErrorContext(r.Context(), "read uploaded logo", "error", err)
		s.renderInternalError(w, r)
		return upload{}, false
	}
	if data == nil {
		data = []byte{} // an empty file is an upload, and an invalid one
	}
	u.logo = data
	return u, true
}

// redirectURIs splits the redirect URI text area: one URI per line, blank
// lines ignored.
func redirectURIs(text string) []string {
	var out []string
	for line := range strings.Lines(text) {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// logoURL is where handleLogo serves an app's logo; the version changes with
// the logo, so the image can be cached for good.
func logoURL(app storage.App) string { return logoPath(app.ClientID, app.LogoSHA256) }

// logoPath is the URL of handleLogo for a client and logo version (the
// logo's SHA-256). Every page that shows a logo builds it here.
func logoPath(clientID, version string) string {
	return "/apps/" + url.PathEscape(clientID) + "/logo?v=" + url.QueryEscape(version)
}

// uriParts cuts a URI after each "/" (but between the two of "//"), and
// before each "?", "&" and "#", so that a long URI on a narrow screen breaks
// where a reader expects it to (the parts are joined with <wbr>).
func uriParts(u string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(u); i++ {
		switch u[i] {
		case '/':
			afterScheme := i >= 2 && u[i-1] == '/' && u[i-2] == ':' // "https://" stays whole
			if i+1 < len(u) && u[i+1] != '/' && !afterScheme {
				parts = append(parts, u[start:i+1])
				start = i + 1
			}
		case '?', '&', '#':
			if i > start {
				parts = append(parts, u[start:i])
				start = i
			}
		}
	}
	if start < len(u) {
		parts = append(parts, u[start:])
	}
	return parts
}

// uri shows a URI in monospace, breakable at its separators (uriParts). It
// is written by hand because templ would put spaces between the parts.
func uri(u string) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		var b strings.Builder
		b.WriteString(`<code class="uri">`)
		for i, part := range uriParts(u) {
			if i > 0 {
				b.WriteString("<wbr>")
			}
			b.WriteString(templ.EscapeString(part))
		}
		b.WriteString("</code>")
		_, err := io.WriteString(w, b.String())
		return err
	})
}

// appPath is the page of an app.
func appPath(clientID string) string { return pathApps + "/" + url.PathEscape(clientID) }

// renderNotFound answers for an app that does not exist or belongs to
// another workspace, alike, so that nothing tells them apart.
func (s *Server) renderNotFound(w http.ResponseWriter, r *http.Request) {
	s.RenderError(w, r, http.StatusNotFound, "Not found",
		"There is no such app in your workspace. It may have been deleted.")
}

func (s *Server) renderForbidden(w http.ResponseWriter, r *http.Request) {
	s.RenderError(w, r, http.StatusForbidden, "You cannot change this app",
		"Only the person who registered it and the administrators of your workspace can change or delete it.")
}

// timeLayout is the one format in which the pages show an instant.
const timeLayout = "2 Jan 2006, 15:04 UTC"

// formatTime shows an instant to people, in UTC, the same way on every page
// (see the timestamp component).
func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// confirmValue is the value of the "confirm" field that the confirmation
// pages send with an irreversible action. A post without it only shows the
// confirmation page.
const confirmValue = "yes"

// confirmed reports whether a form post carries the confirmation.
func confirmed(r *http.Request) bool { return r.PostForm.Get("confirm") == confirmValue }

// machineTime is the datetime attribute of a <time> element.
func machineTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
