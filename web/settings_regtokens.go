package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/nextoria/authz/registration"
	"github.com/nextoria/authz/storage"
)

// CSRF bindings of the registration token forms; revocation is bound to the token.
const bindingRegTokenCreate = "registration-token-create"

func regTokenRevokeBinding(id string) string { return "registration-token-revoke:" + id }

// regTokenOwner is the owner of the one-time secret of registration token id.
func regTokenOwner(id string) string { return "registration-token:" + id }

// regTokenExpiries are the lifetimes offered; an initial access token always
// expires.
var regTokenExpiries = []expiryChoice{
	{"7d", "In 7 days", 7 * 24 * time.Hour},
	{"30d", "In 30 days", 30 * 24 * time.Hour},
	{"90d", "In 90 days", 90 * 24 * time.Hour},
	{"1y", "In 1 year", 365 * 24 * time.Hour},
}

// regTokenView is one token as the list shows it.
type regTokenView struct {
	storage.RegistrationToken
	Status string
}

// regTokensView is the registration tokens page: the list, a token just
// created (shown once), and the form that creates one.
type regTokensView struct {
	Tokens      []regTokenView
	NewToken    *newKeyView
	Endpoint    string
	Form        regTokenFormView
	Unavailable bool
}

// regTokenFormView is the creation form with what was typed and its problems.
type regTokenFormView struct {
	Name      string
	Expiry    string
	Errors    registration.FieldErrors
	CSRFToken string
}

// regTokenStatus is a token's status at now: revoked wins over expired.
func regTokenStatus(t storage.RegistrationToken, now time.Time) string {
	switch {
	case !t.RevokedAt.IsZero():
		return keyRevoked
	case !t.Active(now):
		return keyExpired
	}
	return keyActive
}

// adminOnly renders 403 unless p administers the workspace: initial access
// tokens let others add apps to it.
func (s *Server) adminOnly(w http.ResponseWriter, r *http.Request, p storage.Principal) bool {
	if p.Role == storage.RoleAdmin {
		return true
	}
	s.RenderError(w, r, http.StatusForbidden, "Only administrators manage registration tokens",
		"Registration tokens let other platforms register apps in your workspace. Ask an administrator of your workspace.")
	return false
}

// handleRegTokens lists the workspace's registration tokens, shows a token
// just created once, and offers the form that creates one.
func (s *Server) handleRegTokens(w http.ResponseWriter, r *http.Request, p storage.Principal) {
	if !s.adminOnly(w, r, p) {
		return
	}
	s.renderRegTokens(w, r, p, http.StatusOK, regTokenFormView{Expiry: "30d"})
}

func (s *Server) renderRegTokens(w http.ResponseWriter, r *http.Request, p storage.Principal, status int, f regTokenFormView) {
	c, secret := s.chrome(w, r, p, navRegTokens)
	f.CSRFToken = s.CSRFToken(r, bindingRegTokenCreate)
	v := regTokensView{Form: f, Endpoint: s.issuer + registration.Path, Unavailable: s.regToks == nil}
	if s.regToks != nil {
		toks, err := s.regToks.List(r.Context(), p.WorkspaceID)
		if err != nil {
			s.log.ErrorContext(r.Context(), "list registration tokens", "workspace_id", p.WorkspaceID, "error", err)
			s.renderStoreError(w, r, err)
			return
		}
		now := time.Now()
		for _, t := range toks {
			v.Tokens = append(v.Tokens, regTokenView{RegistrationToken: t, Status: regTokenStatus(t, now)})
			if raw := secret.of(regTokenOwner(t.ID)); raw != "" {
				v.NewToken = &newKeyView{Name: t.Name, Secret: raw}
			}
		}
	}
	s.render(w, r, status, regTokensPage(c, v))
}

// handleRegTokenCreate creates a token; it goes to the list page in the
// encrypted session cookie, which shows it once.
func (s *Server) handleRegTokenCreate(w http.ResponseWriter, r *http.Request, p storage.Principal) {
	if !s.parseForm(w, r, "name") {
		return
	}
	if !s.VerifyCSRF(r, bindingRegTokenCreate, r.PostForm.Get("csrf_token")) {
		s.log.WarnContext(r.Context(), "registration token creation rejected: bad csrf token", "user_id", p.UserID)
		s.renderFormExpired(w, r)
		return
	}
	if !s.adminOnly(w, r, p) || s.regToks == nil {
		return
	}
	f := regTokenFormView{Name: r.PostForm.Get("name"), Expiry: r.PostForm.Get("expiry")}
	i := slices.IndexFunc(regTokenExpiries, func(c expiryChoice) bool { return c.Value == f.Expiry })
	var (
		tok storage.RegistrationToken
		raw string
		err error
	)
	if i < 0 {
		err = registration.FieldErrors{registration.FieldExpiresIn: "Choose when the token expires."}
	} else {
		tok, raw, err = s.regToks.Create(r.Context(), p.WorkspaceID, p.UserID, f.Name, regTokenExpiries[i].Duration)
	}
	var fe registration.FieldErrors
	if errors.As(err, &fe) {
		f.Errors = fe
		s.renderRegTokens(w, r, p, http.StatusUnprocessableEntity, f)
		return
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "create registration token", "user_id", p.UserID, "error", err)
		s.renderStoreError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "registration token created", "token_id", tok.ID, "display_id", tok.DisplayID, "user_id", p.UserID)
	s.finish(w, r, pathRegTokens, "“"+tok.Name+"” is created. It expires on "+formatTime(tok.ExpiresAt)+".", regTokenOwner(tok.ID), raw)
}

// loadRegToken finds the token of the request path among the workspace's.
func (s *Server) loadRegToken(w http.ResponseWriter, r *http.Request, p storage.Principal) (storage.RegistrationToken, bool) {
	id := r.PathValue("id")
	if s.regToks == nil || !validKeyID(id) {
		s.renderRegTokenNotFound(w, r)
		return storage.RegistrationToken{}, false
	}
	toks, err := s.regToks.List(r.Context(), p.WorkspaceID)
	if err != nil {
		s.log.ErrorContext(r.Context(), "list registration tokens", "workspace_id", p.WorkspaceID, "error", err)
		s.renderStoreError(w, r, err)
		return storage.RegistrationToken{}, false
	}
	i := slices.IndexFunc(toks, func(t storage.RegistrationToken) bool { return t.ID == id })
	if i < 0 {
		s.renderRegTokenNotFound(w, r)
		return storage.RegistrationToken{}, false
	}
	return toks[i], true
}

// handleRegTokenRevokeConfirm asks before a token is revoked.
func (s *Server) handleRegTokenRevokeConfirm(w http.ResponseWriter, r *http.Request, p storage.Principal) {
	if !s.adminOnly(w, r, p) {
		return
	}
	t, ok := s.loadRegToken(w, r, p)
	if !ok {
		return
	}
	if !t.RevokedAt.IsZero() {
		seeOther(w, pathRegTokens)
		return
	}
	c, _ := s.chrome(w, r, p, navRegTokens)
	s.render(w, r, http.StatusOK, regTokenRevokePage(c, t, s.CSRFToken(r, regTokenRevokeBinding(t.ID))))
}

// handleRegTokenRevoke revokes a token: registrations with it are refused
// from then on. A post without the confirmation only shows the confirmation.
func (s *Server) handleRegTokenRevoke(w http.ResponseWriter, r *http.Request, p storage.Principal) {
	if !s.parseForm(w, r) {
		return
	}
	if !s.VerifyCSRF(r, regTokenRevokeBinding(r.PathValue("id")), r.PostForm.Get("csrf_token")) {
		s.log.WarnContext(r.Context(), "registration token revocation rejected: bad csrf token", "user_id", p.UserID)
		s.renderFormExpired(w, r)
		return
	}
	if !s.adminOnly(w, r, p) {
		return
	}
	t, ok := s.loadRegToken(w, r, p)
	if !ok {
		return
	}
	if !confirmed(r) {
		c, _ := s.chrome(w, r, p, navRegTokens)
		s.render(w, r, http.StatusOK, regTokenRevokePage(c, t, s.CSRFToken(r, regTokenRevokeBinding(t.ID))))
		return
	}
	_, err := s.regToks.Revoke(r.Context(), p.WorkspaceID, t.ID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		s.renderRegTokenNotFound(w, r)
		return
	case err != nil:
		s.log.ErrorContext(r.Context(), "revoke registration token", "token_id", t.ID, "error", err)
		s.renderStoreError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "registration token revoked", "token_id", t.ID, "user_id", p.UserID)
	s.finish(w, r, pathRegTokens, "“"+t.Name+"” is revoked. Registrations with it are refused from now on; apps it registered keep working.", "", "")
}

func (s *Server) renderRegTokenNotFound(w http.ResponseWriter, r *http.Request) {
	s.RenderError(w, r, http.StatusNotFound, "Not found", "There is no such registration token in your workspace.")
}

// regTokenRevokePath is the confirmation page, and form action, that revokes a token.
func regTokenRevokePath(id string) string {
	return pathRegTokens + "/" + url.PathEscape(id) + "/revoke"
}
