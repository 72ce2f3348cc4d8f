package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/a-h/templ"

	"github.com/nextoria/authz/apps"
	"github.com/nextoria/authz/consent"
	"github.com/nextoria/authz/storage"
)

// CSRF bindings of the app forms; the per-app ones end with the client_id.
const bindingAppRegister = "app-register"

func appBinding(action, clientID string) string { return "app-" + action + ":" + clientID }

// appFormView is the registration form, or the settings form of an app,
// with what was typed and the problems found.
type appFormView struct {
	Name         string
	RedirectURIs string // one per line
	// PostLogoutRedirectURIs: one per line, optional.
	PostLogoutRedirectURIs string
	Scopes                 []string // the checked scope names
	Public                 bool
	RemoveLogo             bool
	// KeptLogo is the logo chosen in a previous attempt that was sent back
	// with errors, as base64 of its normalized PNG; "" when there is none.
	// The form carries it in a hidden field and shows it as the preview.
	KeptLogo string
	// HomepageURL, PrivacyURL and Description are the app's optional profile.
	HomepageURL string
	PrivacyURL  string
	Description string
	// PKCEOptional: a confidential app may omit PKCE (settings form only).
	PKCEOptional bool
	// IDTokenAlg: how the app's ID tokens are signed, RS256 or ES256
	// (settings form only).
	IDTokenAlg string
	// Errors are apps.FieldErrors keyed by field (apps.FieldName, …).
	Errors apps.FieldErrors
	// Notice is shown above the form, e.g. when the upload was too large.
	Notice    string
	CSRFToken string
}

// formOf fills the settings form of an app with its stored values.
func formOf(app storage.App) appFormView {
	return appFormView{
		Name:         app.Name,
		RedirectURIs: strings.Join(app.RedirectURIs, "\n"),
		Scopes:       slices.Clone(app.Scopes),

		PostLogoutRedirectURIs: strings.Join(app.PostLogoutRedirectURIs, "\n"),
		Public:                 app.Public,
		HomepageURL:            app.HomepageURL,
		PrivacyURL:             app.PrivacyURL,
		Description:            app.Description,
		PKCEOptional:           app.PKCEOptional && !app.Public,
		IDTokenAlg:             app.IDTokenAlg,
	}
}

// profile returns the form's app profile.
func (f appFormView) profile() apps.Profile {
	return apps.Profile{HomepageURL: f.HomepageURL, PrivacyURL: f.PrivacyURL, Description: f.Description}
}

// formFrom reads the typed values back from a posted form.
func formFrom(u upload) appFormView {
	return appFormView{
		Name:         u.form.Get("name"),
		RedirectURIs: u.form.Get("redirect_uris"),
		Scopes:       u.form["scope"],

		PostLogoutRedirectURIs: u.form.Get("post_logout_redirect_uris"),
		Public:                 u.form.Get("client_type") == "public",
		RemoveLogo:             u.form.Get("remove_logo") != "",
		HomepageURL:            u.form.Get("homepage_url"),
		PrivacyURL:             u.form.Get("privacy_url"),
		Description:            u.form.Get("description"),
	}
}

// Fields of the app forms that carry a logo across a form sent back with
// errors: the hidden field with the kept logo, and the checkbox that drops it.
const (
	fieldKeptLogo       = "kept_logo"
	fieldRemoveKeptLogo = "remove_kept_logo"
)

// chosenLogo is the logo a posted app form carries: the newly chosen file,
// or else the logo kept from the previous attempt unless its Remove box is
// checked; nil when there is none. The kept logo comes back from the
// browser, so it is treated like a file: the app service validates and
// normalizes it again. Text that is not base64 is passed on as it is, to be
// refused as not an image.
func chosenLogo(u upload) []byte {
	if u.logo != nil {
		return u.logo
	}
	kept := u.form.Get(fieldKeptLogo)
	if kept == "" || u.form.Get(fieldRemoveKeptLogo) != "" {
		return nil
	}
	if len(kept) > base64.StdEncoding.EncodedLen(apps.MaxLogoBytes) {
		return []byte(kept[:apps.MaxLogoBytes+1]) // refused as too large, undecoded
	}
	data, err := base64.StdEncoding.DecodeString(kept)
	if err != nil {
		return []byte(kept)
	}
	return data
}

// keepLogo returns what the form sent back with errors carries of a logo the
// app service found valid: base64 of its normalized PNG; "" when it cannot be
// kept (no image slot was free, or scaling it down took a narrow logo below
// the smallest side, so that it would be refused when sent again).
func keepLogo(ctx context.Context, logo []byte) string {
	l, err := apps.NormalizeLogoContext(ctx, logo)
	if err != nil || len(l.Data) > apps.MaxLogoBytes {
		return ""
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(l.Data))
	if err != nil || cfg.Width < apps.MinLogoSide || cfg.Height < apps.MinLogoSide {
		return ""
	}
	return base64.StdEncoding.EncodeToString(l.Data)
}

// keepValidLogo keeps logo in f, sent back with errors, when the logo itself
// was valid; when it cannot be kept, a notice asks to choose it again.
func keepValidLogo(ctx context.Context, f *appFormView, logo []byte) {
	if logo == nil || f.Errors[apps.FieldLogo] != "" {
		return
	}
	if f.KeptLogo = keepLogo(ctx, logo); f.KeptLogo == "" {
		f.Notice = "Your logo was fine, but it could not be kept while the form was sent back: choose it again."
	}
}

// keptLogoURL is the data: URL that shows a kept logo. It holds only what
// keepLogo produced or what passed through it again: base64 of a PNG that
// the logo checks accepted.
func keptLogoURL(kept string) templ.SafeURL {
	return templ.SafeURL("data:image/png;base64," + kept)
}

// renderAppForm renders the registration page or an app's page: the only
// pages whose CSP allows the data: and blob: images of the logo preview.
func (s *Server) renderAppForm(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	s.renderPolicy(w, r, status, c, policy{imgSrc: previewImages})
}

// msgUploadTooLarge explains a 413.
const msgUploadTooLarge = "The upload was too large and nothing was saved. A logo may be at most 256 KiB; choose a smaller image and fill in the form again."

// appDetailView is the page of one app.
type appDetailView struct {
	App       storage.App
	CanManage bool
	// NewSecret is the client secret just issued, shown once; "" otherwise.
	NewSecret string
	// Form is the settings form (only when CanManage).
	Form appFormView
	// PreviousSecretUntil is when the secret replaced by the last rotation
	// stops working; zero when it already has.
	PreviousSecretUntil time.Time
	Overlap             string // the rotation choice to show selected
	RotateError         string
	RotateToken         string
}

// overlapChoice is one answer to "how long may the old secret keep working?".
type overlapChoice struct {
	Value    string
	Label    string
	Duration time.Duration
}

// overlapChoices are the rotation overlaps offered; defaultOverlap is preselected.
var overlapChoices = []overlapChoice{
	{"now", "Stop it now", 0},
	{"1h", "1 hour", time.Hour},
	{"24h", "24 hours", 24 * time.Hour},
	{"7d", "7 days", 7 * 24 * time.Hour},
}

const defaultOverlap = "24h"

// handleAppsList lists the apps of the user's workspace.
func (s *Server) handleAppsList(w http.ResponseWriter, r *http.Request, p storage.Principal) {
	list, err := s.store.ListApps(r.Context(), p.WorkspaceID)
	if err != nil {
		s.log.ErrorContext(r.Context(), "list apps", "workspace_id", p.WorkspaceID, "error", err)
		s.renderStoreError(w, r, err)
		return
	}
	c, _ := s.chrome(w, r, p, navApps)
	s.render(w, r, http.StatusOK, appsListPage(c, list))
}

// handleAppNew shows the registration form.
func (s *Server) handleAppNew(w http.ResponseWriter, r *http.Request, p storage.Principal) {
	c, _ := s.chrome(w, r, p, navApps)
	s.renderAppForm(w, r, http.StatusOK, appNewPage(c, appFormView{CSRFToken: s.CSRFToken(r, bindingAppRegister)}))
}

// handleAppCreate registers an app in the user's workspace, owned by the
// user; any member may. Its secret is shown once, on the app's page.
func (s *Server) handleAppCreate(w http.ResponseWriter, r *http.Request, p storage.Principal) {
	u, ok := s.readUpload(w, r)
	if !ok {
		return
	}
	if u.tooLarge {
		c, _ := s.chrome(w, r, p, navApps)
		f := appFormView{Notice: msgUploadTooLarge, CSRFToken: s.CSRFToken(r, bindingAppRegister)}
		s.renderAppForm(w, r, http.StatusRequestEntityTooLarge, appNewPage(c, f))
		return
	}
	if !s.VerifyCSRF(r, bindingAppRegister, u.form.Get("csrf_token")) {
		s.log.WarnContext(r.Context(), "app registration rejected: bad csrf token", "user_id", p.UserID)
		s.renderFormExpired(w, r)
		return
	}
	logo := chosenLogo(u)
	if logo != nil && !s.allowLogoUpload(w, r, p) {
		return
	}
	f := formFrom(u)
	var (
		app          storage.App
		clientSecret string
	)
	err := s.audit.Audited(r.Context(), func(ctx context.Context) (storage.AuditEvent, error) {
		var err error
		app, clientSecret, err = s.apps.Register(ctx, apps.Registration{
			Name:                   f.Name,
			RedirectURIs:           redirectURIs(f.RedirectURIs),
			Scopes:                 f.Scopes,
			Public:                 f.Public,
			Logo:                   logo,
			WorkspaceID:            p.WorkspaceID,
			OwnerID:                p.UserID,
			Profile:                f.profile(),
			PostLogoutRedirectURIs: redirectURIs(f.PostLogoutRedirectURIs),
		})
		return appEvent(p, storage.AuditAppCreated, app, map[string]any{"public": app.Public}), err
	})
	var fe apps.FieldErrors
	if errors.As(err, &fe) {
		f.Errors = fe
		keepValidLogo(r.Context(), &f, logo)
		f.CSRFToken = s.CSRFToken(r, bindingAppRegister)
		c, _ := s.chrome(w, r, p, navApps)
		s.renderAppForm(w, r, http.StatusUnprocessableEntity, appNewPage(c, f))
		return
	}
	if s.logoUnprocessed(w, r, err) {
		return
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "register app", "user_id", p.UserID, "error", err)
		s.renderStoreError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "app registered", "client_id", app.ClientID, "user_id", p.UserID, "public", app.Public)
	s.finish(w, r, appPath(app.ClientID), "“"+app.Name+"” is registered.", app.ClientID, clientSecret)
}

// logoBusyRetry is the Retry-After of an upload refused because every image
// slot was taken.
const logoBusyRetry = 5 * time.Second

// allowLogoUpload counts a logo upload by p against the per-user limit
// (Config.LogoUploads) and answers 429 with Retry-After itself when it is
// refused.
func (s *Server) allowLogoUpload(w http.ResponseWriter, r *http.Request, p storage.Principal) bool {
	res := s.uploads.AllowLimit("logo:"+p.UserID, s.uploadLimit)
	if res.Allowed {
		return true
	}
	seconds := retryAfterSeconds(res.RetryAfter)
	s.log.WarnContext(r.Context(), "logo upload refused: too many", "user_id", p.UserID, "retry_after", res.RetryAfter)
	w.Header().Set("Retry-After", strconv.Itoa(seconds))
	s.RenderError(w, r, http.StatusTooManyRequests, "Too many logo uploads",
		fmt.Sprintf("You have uploaded many logos in a short time. Nothing was saved; go back and try again in %d seconds.", seconds))
	return false
}

// logoUnprocessed answers, and reports true, when a registration or update
// failed because its logo could not be processed: 503 with Retry-After when
// every image slot stayed busy, nothing when the browser has gone away.
// Nothing was saved in either case.
func (s *Server) logoUnprocessed(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case errors.Is(err, apps.ErrLogoBusy):
		s.log.WarnContext(r.Context(), "logo upload refused: image slots busy")
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(logoBusyRetry)))
		s.RenderError(w, r, http.StatusServiceUnavailable, "Busy",
			"Too many images are being processed right now. Nothing was saved; go back and try again in a few seconds.")
		return true
	case err != nil && r.Context().Err() != nil:
		s.log.InfoContext(r.Context(), "app form abandoned: the request ended", "error", err)
		return true
	}
	return false
}

// loadApp loads the app named by the request path for p. An unknown app and
// an app of another workspace get the same 404, for GET and POST alike.
func (s *Server) loadApp(w http.ResponseWriter, r *http.Request, p storage.Principal) (storage.App, bool) {
	clientID := r.PathValue("client_id")
	if !apps.ValidClientID(clientID) {
		s.renderNotFound(w, r)
		return storage.App{}, false
	}
	app, err := s.store.GetApp(r.Context(), clientID)
	switch {
	case errors.Is(err, storage.ErrNotFound) || (err == nil && !apps.CanView(p, app)):
		s.renderNotFound(w, r)
		return storage.App{}, false
	case err != nil:
		s.log.ErrorContext(r.Context(), "load app", "client_id", clientID, "error", err)
		s.renderStoreError(w, r, err)
		return storage.App{}, false
	}
	return app, true
}

// detailView prepares the page of app for p.
func (s *Server) detailView(r *http.Request, p storage.Principal, app storage.App) appDetailView {
	v := appDetailView{App: app, CanManage: apps.CanManage(p, app), Overlap: defaultOverlap}
	if len(app.RotatedSecretHash) > 0 && app.RotatedSecretExpiresAt.After(time.Now()) {
		v.PreviousSecretUntil = app.RotatedSecretExpiresAt
	}
	if v.CanManage {
		v.Form = formOf(app)
		v.Form.CSRFToken = s.CSRFToken(r, appBinding("update", app.ClientID))
		v.RotateToken = s.CSRFToken(r, appBinding("rotate", app.ClientID))
	}
	return v
}

// handleAppDetail shows an app: to those who may manage it with its
// settings form, secret rotation and deletion, to other members read-only.
func (s *Server) handleAppDetail(w http.ResponseWriter, r *http.Request, p storage.Principal) {
	app, ok := s.loadApp(w, r, p)
	if !ok {
		return
	}
	v := s.detailView(r, p, app)
	c, secret := s.chrome(w, r, p, navApps)
	v.NewSecret = secret.of(app.ClientID)
	s.renderAppForm(w, r, http.StatusOK, appDetailPage(c, v))
}

// handleAppUpdate saves the settings form of an app.
func (s *Server) handleAppUpdate(w http.ResponseWriter, r *http.Request, p storage.Principal) {
	u, ok := s.readUpload(w, r)
	if !ok {
		return
	}
	app, ok := s.loadApp(w, r, p)
	if !ok {
		return
	}
	if u.tooLarge {
		v := s.detailView(r, p, app)
		v.Form.Notice = msgUploadTooLarge
		c, _ := s.chrome(w, r, p, navApps)
		s.renderAppForm(w, r, http.StatusRequestEntityTooLarge, appDetailPage(c, v))
		return
	}
	if !s.authorizeAppForm(w, r, p, app, "update", u.form.Get("csrf_token")) {
		return
	}
	logo := chosenLogo(u)
	if logo != nil && !s.allowLogoUpload(w, r, p) {
		return
	}
	f := formFrom(u)
	upd := apps.Update{
		Name:         f.Name,
		RedirectURIs: redirectURIs(f.RedirectURIs),
		Scopes:       f.Scopes,
		Logo:         logo,

		PostLogoutRedirectURIs: redirectURIs(f.PostLogoutRedirectURIs),
		RemoveLogo:             f.RemoveLogo,
		Profile:                f.profile(),
	}
	if !app.Public { // the checkbox is shown to confidential apps only
		f.PKCEOptional = u.form.Get("pkce_required") == ""
		upd.PKCEOptional = &f.PKCEOptional
	}
	f.IDTokenAlg = u.form.Get("id_token_alg") // "" (not sent) keeps the current one
	upd.IDTokenAlg = f.IDTokenAlg
	var updated storage.App
	err := s.audit.Audited(r.Context(), func(ctx context.Context) (storage.AuditEvent, error) {
		var err error
		updated, err = s.apps.Update(ctx, app.ClientID, upd)
		return appEvent(p, storage.AuditAppUpdated, updated, nil), err
	})
	var fe apps.FieldErrors
	switch {
	case errors.As(err, &fe):
		v := s.detailView(r, p, app)
		f.Public, f.Errors, f.CSRFToken = app.Public, fe, v.Form.CSRFToken
		keepValidLogo(r.Context(), &f, logo)
		v.Form = f
		c, _ := s.chrome(w, r, p, navApps)
		s.renderAppForm(w, r, http.StatusUnprocessableEntity, appDetailPage(c, v))
		return
	case errors.Is(err, storage.ErrNotFound):
		s.renderNotFound(w, r)
		return
	case s.logoUnprocessed(w, r, err):
		return
	case err != nil:
		s.log.ErrorContext(r.Context(), "update app", "client_id", app.ClientID, "error", err)
		s.renderStoreError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "app updated", "client_id", app.ClientID, "user_id", p.UserID)
	s.finish(w, r, appPath(app.ClientID), "Changes to “"+updated.Name+"” are saved.", "", "")
}

// handleAppRotate gives a confidential app a new client secret, shown once;
// the developer chose how long the old one keeps working. Stopping it at
// once takes a confirmation: without one, the post only shows the
// confirmation page.
func (s *Server) handleAppRotate(w http.ResponseWriter, r *http.Request, p storage.Principal) {
	if !s.parseForm(w, r) {
		return
	}
	app, ok := s.loadApp(w, r, p)
	if !ok || !s.authorizeAppForm(w, r, p, app, "rotate", r.PostForm.Get("csrf_token")) {
		return
	}
	if app.Public {
		s.RenderError(w, r, http.StatusBadRequest, "Public apps have no secret",
			"This app was registered as public: it authenticates with PKCE, not with a client secret.")
		return
	}
	choice := r.PostForm.Get("overlap")
	i := slices.IndexFunc(overlapChoices, func(o overlapChoice) bool { return o.Value == choice })
	if i < 0 {
		v := s.detailView(r, p, app)
		v.RotateError = "Choose how long the current secret keeps working."
		c, _ := s.chrome(w, r, p, navApps)
		s.renderAppForm(w, r, http.StatusUnprocessableEntity, appDetailPage(c, v))
		return
	}
	overlap := overlapChoices[i]
	if overlap.Duration == 0 && !confirmed(r) {
		// Stopping the current secret at once is irreversible: ask first.
		c, _ := s.chrome(w, r, p, navApps)
		s.render(w, r, http.StatusOK, appRotateNowPage(c, app, s.CSRFToken(r, appBinding("rotate", app.ClientID))))
		return
	}
	var clientSecret string
	err := s.audit.Audited(r.Context(), func(ctx context.Context) (storage.AuditEvent, error) {
		var err error
		clientSecret, err = s.apps.RotateSecret(ctx, app.ClientID, overlap.Duration)
		return appEvent(p, storage.AuditAppSecretRotated, app,
			map[string]any{"previous_secret_valid_for": overlap.Duration.String()}), err
	})
	switch {
	case errors.Is(err, storage.ErrNotFound):
		s.renderNotFound(w, r)
		return
	case err != nil:
		s.log.ErrorContext(r.Context(), "rotate client secret", "client_id", app.ClientID, "error", err)
		s.renderStoreError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "client secret rotated", "client_id", app.ClientID, "user_id", p.UserID, "overlap", overlap.Duration)
	flash := "“" + app.Name + "” has a new client secret. The previous one has stopped working."
	if overlap.Duration > 0 {
		flash = "“" + app.Name + "” has a new client secret. The previous one keeps working for " + overlap.Label +
			", until " + formatTime(time.Now().Add(overlap.Duration)) + "."
	}
	s.finish(w, r, appPath(app.ClientID), flash, app.ClientID, clientSecret)
}

// handleAppDeleteConfirm asks before an app is deleted.
func (s *Server) handleAppDeleteConfirm(w http.ResponseWriter, r *http.Request, p storage.Principal) {
	app, ok := s.loadApp(w, r, p)
	if !ok {
		return
	}
	if !apps.CanManage(p, app) {
		s.renderForbidden(w, r)
		return
	}
	c, _ := s.chrome(w, r, p, navApps)
	s.render(w, r, http.StatusOK, appDeletePage(c, app, s.CSRFToken(r, appBinding("delete", app.ClientID))))
}

// handleAppDelete deletes an app, and with it every token it holds and every
// consent given to it. A post without the confirmation only shows the
// confirmation page.
func (s *Server) handleAppDelete(w http.ResponseWriter, r *http.Request, p storage.Principal) {
	if !s.parseForm(w, r) {
		return
	}
	app, ok := s.loadApp(w, r, p)
	if !ok || !s.authorizeAppForm(w, r, p, app, "delete", r.PostForm.Get("csrf_token")) {
		return
	}
	if !confirmed(r) {
		c, _ := s.chrome(w, r, p, navApps)
		s.render(w, r, http.StatusOK, appDeletePage(c, app, s.CSRFToken(r, appBinding("delete", app.ClientID))))
		return
	}
	err := s.audit.Audited(r.Context(), func(ctx context.Context) (storage.AuditEvent, error) {
		return appEvent(p, storage.AuditAppDeleted, app, nil), s.apps.Delete(ctx, app.ClientID)
	})
	switch {
	case errors.Is(err, storage.ErrNotFound):
		s.renderNotFound(w, r)
		return
	case err != nil:
		s.log.ErrorContext(r.Context(), "delete app", "client_id", app.ClientID, "error", err)
		s.renderStoreError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "app deleted", "client_id", app.ClientID, "user_id", p.UserID)
	s.finish(w, r, pathApps, "“"+app.Name+"” is deleted. Its tokens no longer work.", "", "")
}

// authorizeAppForm checks a form post about app: the CSRF token bound to
// action and the app, then whether p may manage the app. It answers 403
// itself when not.
func (s *Server) authorizeAppForm(w http.ResponseWriter, r *http.Request, p storage.Principal, app storage.App, action, token string) bool {
	if !s.VerifyCSRF(r, appBinding(action, app.ClientID), token) {
		s.log.WarnContext(r.Context(), "app form rejected: bad csrf token", "action", action, "client_id", app.ClientID, "user_id", p.UserID)
		s.renderFormExpired(w, r)
		return false
	}
	if !apps.CanManage(p, app) {
		s.log.WarnContext(r.Context(), "app form rejected: not allowed", "action", action, "client_id", app.ClientID, "user_id", p.UserID)
		s.renderForbidden(w, r)
		return false
	}
	return true
}

// formFields are the fields of the app forms, in page order.
var formFields = []string{apps.FieldName, apps.FieldDescription, apps.FieldHomepageURL, apps.FieldPrivacyURL,
	apps.FieldRedirectURIs, apps.FieldPostLogoutRedirectURIs, apps.FieldLogo, apps.FieldScopes, apps.FieldIDTokenAlg}

// fieldLabels name the fields in messages.
var fieldLabels = map[string]string{
	apps.FieldName:                   "App Name",
	apps.FieldRedirectURIs:           "Redirect URIs",
	apps.FieldLogo:                   "Logo",
	apps.FieldScopes:                 "Scopes",
	apps.FieldDescription:            "Description",
	apps.FieldHomepageURL:            "Homepage URL",
	apps.FieldPrivacyURL:             "Privacy policy URL",
	apps.FieldIDTokenAlg:             "ID token algorithm",
	apps.FieldPostLogoutRedirectURIs: "Post-logout redirect URIs",
}

// fieldMessage turns a field error of package apps into a sentence: messages
// such as "is required" get the field's label in front.
func fieldMessage(field, msg string) string {
	if strings.HasPrefix(msg, "is ") || strings.HasPrefix(msg, "must ") {
		msg = fieldLabels[field] + " " + msg
	}
	if msg == "" {
		return ""
	}
	r, size := utf8.DecodeRuneInString(msg)
	msg = string(unicode.ToUpper(r)) + msg[size:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

// fieldInputID is the element the error summary links to for field.
func fieldInputID(field string) string {
	if field == apps.FieldScopes {
		return scopeInputID(consent.Catalogue[0].Name)
	}
	return field
}

// scopeInputID is the id of a scope's checkbox ("scope-projects-read"): ids
// with a colon would need escaping in CSS selectors.
func scopeInputID(scope string) string { return "scope-" + strings.ReplaceAll(scope, ":", "-") }

// describedBy lists the ids describing a field: its hint, and its error when
// it has one.
// uriListSpec names a textarea of URIs: its apps field, id and form name,
// label, test id and hint id.
type uriListSpec struct {
	Field, ID, Label, TestID, HintID string
	Required                         bool
}

func describedBy(f appFormView, field, hint string) string {
	if f.Errors[field] != "" {
		return hint + " " + field + "-error"
	}
	return hint
}

// clientTypeLabel names the client type for people.
func clientTypeLabel(public bool) string {
	if public {
		return "Public"
	}
	return "Confidential"
}
