package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/nextoria/authz/apps"
	"github.com/nextoria/authz/consent"
	"github.com/nextoria/authz/storage"
)

func grantBinding(clientID string) string { return "grant-revoke:" + clientID }

// grantRevokePath is the confirmation page, and form action, that revokes
// the user's authorization of an app.
func grantRevokePath(clientID string) string {
	return pathAuthorized + "/" + url.PathEscape(clientID) + "/revoke"
}

// grantView is one authorized app as the page shows it.
type grantView struct {
	storage.GrantedApp
	Scopes      []consent.Scope
	RevokeToken string
}

// handleGrants lists the apps the user has authorized, in any workspace.
func (s *Server) handleGrants(w http.ResponseWriter, r *http.Request, p storage.Principal) {
	grants, err := s.store.ListGrants(r.Context(), p.UserID)
	if err != nil {
		s.log.ErrorContext(r.Context(), "list grants", "user_id", p.UserID, "error", err)
		s.renderStoreError(w, r, err)
		return
	}
	views := make([]grantView, len(grants))
	for i, g := range grants {
		views[i] = grantView{GrantedApp: g, Scopes: consent.Describe(g.Scopes), RevokeToken: s.CSRFToken(r, grantBinding(g.ClientID))}
	}
	c, _ := s.chrome(w, r, p, navAuthorized)
	s.render(w, r, http.StatusOK, grantsPage(c, views))
}

// loadGrant finds the user's authorization of the app named by the request
// path. An app the user has not authorized is a 404.
func (s *Server) loadGrant(w http.ResponseWriter, r *http.Request, p storage.Principal) (grantView, bool) {
	clientID := r.PathValue("client_id")
	grants, err := s.store.ListGrants(r.Context(), p.UserID)
	if err != nil {
		s.log.ErrorContext(r.Context(), "list grants", "user_id", p.UserID, "error", err)
		s.renderStoreError(w, r, err)
		return grantView{}, false
	}
	i := slices.IndexFunc(grants, func(g storage.GrantedApp) bool { return g.ClientID == clientID })
	if i < 0 {
		s.renderGrantNotFound(w, r)
		return grantView{}, false
	}
	g := grants[i]
	return grantView{GrantedApp: g, Scopes: consent.Describe(g.Scopes), RevokeToken: s.CSRFToken(r, grantBinding(g.ClientID))}, true
}

// handleGrantRevokeConfirm asks before the user's authorization of an app
// is revoked.
func (s *Server) handleGrantRevokeConfirm(w http.ResponseWriter, r *http.Request, p storage.Principal) {
	g, ok := s.loadGrant(w, r, p)
	if !ok {
		return
	}
	c, _ := s.chrome(w, r, p, navAuthorized)
	s.render(w, r, http.StatusOK, grantRevokePage(c, g))
}

// handleGrantRevoke withdraws the user's consent to an app and revokes the
// tokens the app holds for the user; the app must ask again. A post without
// the confirmation only shows the confirmation page.
func (s *Server) handleGrantRevoke(w http.ResponseWriter, r *http.Request, p storage.Principal) {
	if !s.parseForm(w, r) {
		return
	}
	clientID := r.PathValue("client_id")
	if !s.VerifyCSRF(r, grantBinding(clientID), r.PostForm.Get("csrf_token")) {
		s.log.WarnContext(r.Context(), "revoke rejected: bad csrf token", "client_id", clientID, "user_id", p.UserID)
		s.renderFormExpired(w, r)
		return
	}
	if !apps.ValidClientID(clientID) {
		s.renderGrantNotFound(w, r)
		return
	}
	if !confirmed(r) {
		s.handleGrantRevokeConfirm(w, r, p)
		return
	}
	name := "The app"
	if app, err := s.store.GetApp(r.Context(), clientID); err == nil {
		name = "“" + app.Name + "”"
	}
	err := s.audit.Audited(r.Context(), func(ctx context.Context) (storage.AuditEvent, error) {
		return userEvent(p, storage.AuditConsentRevoked, storage.TargetApp, clientID, nil),
			s.store.RevokeGrant(ctx, p.UserID, clientID)
	})
	switch {
	case errors.Is(err, storage.ErrNotFound):
		s.renderGrantNotFound(w, r)
		return
	case err != nil:
		s.log.ErrorContext(r.Context(), "revoke grant", "client_id", clientID, "user_id", p.UserID, "error", err)
		s.renderStoreError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "grant revoked", "client_id", clientID, "user_id", p.UserID)
	s.finish(w, r, pathAuthorized, name+" can no longer access your account.", "", "")
}

// renderGrantNotFound answers for an app the user has not authorized,
// including one that does not exist.
func (s *Server) renderGrantNotFound(w http.ResponseWriter, r *http.Request) {
	s.RenderError(w, r, http.StatusNotFound, "Not found",
		"You have not authorized this app, or its access was already removed.")
}
