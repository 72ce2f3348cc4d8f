package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/nextoria/authz/apikey"
	"github.com/nextoria/authz/consent"
	"github.com/nextoria/authz/storage"
)

// CSRF bindings of the API key forms; revocation is bound to the key.
const bindingKeyCreate = "api-key-create"

func keyRevokeBinding(id string) string { return "api-key-revoke:" + id }

// Statuses of an API key.
const (
	keyActive  = "active"
	keyExpired = "expired"
	keyRevoked = "revoked"
)

// keyStatus is a key's status at now: revoked wins over expired.
func keyStatus(k storage.APIKey, now time.Time) string {
	switch {
	case !k.RevokedAt.IsZero():
		return keyRevoked
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		return keyExpired
	}
	return keyActive
}

// canRevokeKey reports whether p may revoke k: the administrators of its
// workspace and the member who created it may; other members see it
// read-only. Keys created from the command line have no creator, so only
// administrators may revoke those.
func canRevokeKey(p storage.Principal, k storage.APIKey) bool {
	if p.WorkspaceID == "" || p.WorkspaceID != k.WorkspaceID {
		return false
	}
	return p.Role == storage.RoleAdmin || (p.UserID != "" && p.UserID == k.CreatedBy)
}

// keyView is one API key as the list shows it.
type keyView struct {
	storage.APIKey
	Status    string
	Scopes    []consent.Scope
	CanRevoke bool
	ByYou     bool
}

// newKeyView is a key just created, with the key itself, shown once.
type newKeyView struct {
	Name   string
	Secret string
}

// keysView is the API keys page.
type keysView struct {
	Keys   []keyView
	NewKey *newKeyView
}

// expiryChoice is one answer to "when does the key stop working?".
type expiryChoice struct {
	Value, Label string
	Duration     time.Duration
}

// expiryChoices are the lifetimes offered, in order; expiryDate reads the
// date field. A key that never expires is offered last, with a warning.
var expiryChoices = []expiryChoice{
	{"30d", "In 30 days", 30 * 24 * time.Hour},
	{"90d", "In 90 days", 90 * 24 * time.Hour},
	{"1y", "In 1 year", 365 * 24 * time.Hour},
	{expiryDate, "On a date", 0},
	{expiryNever, "Never", 0},
}

const (
	expiryDate  = "date"
	expiryNever = "never"
	// defaultExpiry is preselected: a forgotten key stops working by itself.
	defaultExpiry = "30d"
	// maxExpiryDate bounds a chosen date; beyond it, choose Never.
	maxExpiryDate = 10 * 366 * 24 * time.Hour
	dateLayout    = "2006-01-02"
)

// keyFormView is the form that creates a key, with what was typed and the
// problems found.
type keyFormView struct {
	Name      string
	Scopes    []string
	Expiry    string // an expiryChoices value
	ExpiresOn string // YYYY-MM-DD, read when Expiry is expiryDate
	// Errors are apikey.FieldErrors keyed by apikey.FieldName, FieldScopes
	// and FieldExpiresIn; the messages are sentences already.
	Errors    apikey.FieldErrors
	CSRFToken string
	// MinDate and MaxDate bound the date field (YYYY-MM-DD).
	MinDate, MaxDate string
}

// newKeyForm is an empty form with its token and date bounds.
func (s *Server) newKeyForm(r *http.Request) keyFormView {
	f := keyFormView{Expiry: defaultExpiry}
	s.prepareKeyForm(r, &f)
	return f
}

func (s *Server) prepareKeyForm(r *http.Request, f *keyFormView) {
	now := time.Now().UTC()
	f.CSRFToken = s.CSRFToken(r, bindingKeyCreate)
	f.MinDate = now.AddDate(0, 0, 1).Format(dateLayout)
	f.MaxDate = now.Add(maxExpiryDate).Format(dateLayout)
}

// lifetime turns the expiry choice into the key's lifetime (0: never), or
// an error message for the expiry field. A date means 00:00 UTC that day.
func (f keyFormView) lifetime(now time.Time) (time.Duration, string) {
	i := slices.IndexFunc(expiryChoices, func(c expiryChoice) bool { return c.Value == f.Expiry })
	switch {
	case i < 0:
		return 0, "Choose when the key expires."
	case f.Expiry != expiryDate:
		return expiryChoices[i].Duration, ""
	}
	if strings.TrimSpace(f.ExpiresOn) == "" {
		return 0, "Choose the date the key expires, or another option."
	}
	day, err := time.Parse(dateLayout, strings.TrimSpace(f.ExpiresOn))
	if err != nil {
		return 0, "Enter the expiry date as YYYY-MM-DD."
	}
	d := day.Sub(now)
	switch {
	case d <= 0:
		return 0, "The expiry date must be in the future."
	case d > maxExpiryDate:
		return 0, "The expiry date must be within 10 years; choose Never for a key that does not expire."
	}
	return d, ""
}

// handleKeys lists the workspace's API keys and shows a key just created,
// once.
func (s *Server) handleKeys(w http.ResponseWriter, r *http.Request, p storage.Principal) {
	keys, err := s.apiKeys.List(r.Context(), p.WorkspaceID)
	if err != nil {
		s.log.ErrorContext(r.Context(), "list API keys", "workspace_id", p.WorkspaceID, "error", err)
		s.renderStoreError(w, r, err)
		return
	}
	c, secret := s.chrome(w, r, p, navKeys)
	now := time.Now()
	v := keysView{Keys: make([]keyView, len(keys))}
	for i, k := range keys {
		v.Keys[i] = keyView{
			APIKey:    k,
			Status:    keyStatus(k, now),
			Scopes:    consent.Describe(k.Scopes),
			CanRevoke: canRevokeKey(p, k),
			ByYou:     k.CreatedBy != "" && k.CreatedBy == p.UserID,
		}
		// The key just created is shown to the member who created it, and
		// only on this workspace's list.
		if raw := secret.of(apiKeyOwner(k.ID)); raw != "" && v.Keys[i].ByYou {
			v.NewKey = &newKeyView{Name: k.Name, Secret: raw}
		}
	}
	s.render(w, r, http.StatusOK, keysPage(c, v))
}

// handleKeyNew shows the form that creates a key.
func (s *Server) handleKeyNew(w http.ResponseWriter, r *http.Request, p storage.Principal) {
	c, _ := s.chrome(w, r, p, navKeyNew)
	s.render(w, r, http.StatusOK, keyNewPage(c, s.newKeyForm(r)))
}

// handleKeyCreate creates a key in the user's workspace, created by the
// user; any member may. The key itself goes to the list page in the
// encrypted session cookie, which shows it once.
func (s *Server) handleKeyCreate(w http.ResponseWriter, r *http.Request, p storage.Principal) {
	if !s.parseForm(w, r, "name", "scope") {
		return
	}
	if !s.VerifyCSRF(r, bindingKeyCreate, r.PostForm.Get("csrf_token")) {
		s.log.WarnContext(r.Context(), "API key creation rejected: bad csrf token", "user_id", p.UserID)
		s.renderFormExpired(w, r)
		return
	}
	f := keyFormView{
		Name:      r.PostForm.Get("name"),
		Scopes:    r.PostForm["scope"],
		Expiry:    r.PostForm.Get("expiry"),
		ExpiresOn: r.PostForm.Get("expires_on"),
	}
	lifetime, expiryErr := f.lifetime(time.Now())
	var (
		key storage.APIKey
		raw string
		err error
	)
	if expiryErr != "" {
		err = apikey.FieldErrors{apikey.FieldExpiresIn: expiryErr}
	} else {
		err = s.audit.Audited(r.Context(), func(ctx context.Context) (storage.AuditEvent, error) {
			var err error
			key, raw, err = s.apiKeys.Create(ctx, p.WorkspaceID, p.UserID, f.Name, f.Scopes, lifetime)
			return keyEvent(p, storage.AuditAPIKeyCreated, key), err
		})
	}
	var fe apikey.FieldErrors
	if errors.As(err, &fe) {
		f.Errors = fe
		s.prepareKeyForm(r, &f)
		c, _ := s.chrome(w, r, p, navKeyNew)
		s.render(w, r, http.StatusUnprocessableEntity, keyNewPage(c, f))
		return
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "create API key", "user_id", p.UserID, "error", err)
		s.renderStoreError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "API key created", "key_id", key.ID, "display_id", key.DisplayID, "user_id", p.UserID)
	flash := "“" + key.Name + "” is created. It expires on " + formatTime(key.ExpiresAt) + "."
	if key.ExpiresAt.IsZero() {
		flash = "“" + key.Name + "” is created. It never expires: revoke it as soon as it is no longer needed."
	}
	s.finish(w, r, pathKeys, flash, apiKeyOwner(key.ID), raw)
}

// loadKey finds the key named by the request path among the keys of p's
// workspace. A key of another workspace gets the same 404 as one that does
// not exist.
func (s *Server) loadKey(w http.ResponseWriter, r *http.Request, p storage.Principal) (storage.APIKey, bool) {
	id := r.PathValue("id")
	if !validKeyID(id) {
		s.renderKeyNotFound(w, r)
		return storage.APIKey{}, false
	}
	keys, err := s.apiKeys.List(r.Context(), p.WorkspaceID)
	if err != nil {
		s.log.ErrorContext(r.Context(), "list API keys", "workspace_id", p.WorkspaceID, "error", err)
		s.renderStoreError(w, r, err)
		return storage.APIKey{}, false
	}
	i := slices.IndexFunc(keys, func(k storage.APIKey) bool { return k.ID == id })
	if i < 0 {
		s.renderKeyNotFound(w, r)
		return storage.APIKey{}, false
	}
	return keys[i], true
}

// handleKeyRevokeConfirm asks before a key is revoked.
func (s *Server) handleKeyRevokeConfirm(w http.ResponseWriter, r *http.Request, p storage.Principal) {
	k, ok := s.loadKey(w, r, p)
	if !ok {
		return
	}
	if !canRevokeKey(p, k) {
		s.renderKeyForbidden(w, r)
		return
	}
	if !k.RevokedAt.IsZero() {
		seeOther(w, pathKeys)
		return
	}
	c, _ := s.chrome(w, r, p, navKeys)
	s.render(w, r, http.StatusOK, keyRevokePage(c, k, s.CSRFToken(r, keyRevokeBinding(k.ID))))
}

// handleKeyRevoke revokes a key: the next API request made with it is
// refused. A post without the confirmation only shows the confirmation page.
func (s *Server) handleKeyRevoke(w http.ResponseWriter, r *http.Request, p storage.Principal) {
	if !s.parseForm(w, r) {
		return
	}
	k, ok := s.loadKey(w, r, p)
	if !ok {
		return
	}
	if !s.VerifyCSRF(r, keyRevokeBinding(k.ID), r.PostForm.Get("csrf_token")) {
		s.log.WarnContext(r.Context(), "API key revocation rejected: bad csrf token", "key_id", k.ID, "user_id", p.UserID)
		s.renderFormExpired(w, r)
		return
	}
	if !canRevokeKey(p, k) {
		s.log.WarnContext(r.Context(), "API key revocation rejected: not allowed", "key_id", k.ID, "user_id", p.UserID)
		s.renderKeyForbidden(w, r)
		return
	}
	if !confirmed(r) {
		c, _ := s.chrome(w, r, p, navKeys)
		s.render(w, r, http.StatusOK, keyRevokePage(c, k, s.CSRFToken(r, keyRevokeBinding(k.ID))))
		return
	}
	err := s.audit.Audited(r.Context(), func(ctx context.Context) (storage.AuditEvent, error) {
		return keyEvent(p, storage.AuditAPIKeyRevoked, k), s.apiKeys.Revoke(ctx, p.WorkspaceID, k.ID)
	})
	switch {
	case errors.Is(err, storage.ErrNotFound):
		s.renderKeyNotFound(w, r)
		return
	case err != nil:
		s.log.ErrorContext(r.Context(), "revoke API key", "key_id", k.ID, "error", err)
		s.renderStoreError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "API key revoked", "key_id", k.ID, "user_id", p.UserID)
	s.finish(w, r, pathKeys, "“"+k.Name+"” is revoked. Requests made with it are refused from now on.", "", "")
}

func (s *Server) renderKeyNotFound(w http.ResponseWriter, r *http.Request) {
	s.RenderError(w, r, http.StatusNotFound, "Not found",
		"There is no such API key in your workspace.")
}

func (s *Server) renderKeyForbidden(w http.ResponseWriter, r *http.Request) {
	s.RenderError(w, r, http.StatusForbidden, "You cannot revoke this key",
		"Only the person who created it and the administrators of your workspace can revoke it.")
}

// keyRevokePath is the confirmation page, and form action, that revokes a key.
func keyRevokePath(id string) string { return pathKeys + "/" + url.PathEscape(id) + "/revoke" }

// keyStatusLabel names a key status for people.
func keyStatusLabel(status string) string {
	switch status {
	case keyExpired:
		return "Expired"
	case keyRevoked:
		return "Revoked"
	}
	return "Active"
}

// keyFields are the fields of the key form, in page order.
var keyFields = []string{apikey.FieldName, apikey.FieldScopes, apikey.FieldExpiresIn}

// keyFieldInputID is the element the error summary links to for field.
func keyFieldInputID(field string) string {
	switch field {
	case apikey.FieldScopes:
		return scopeInputID(consent.APICatalogue()[0].Name)
	case apikey.FieldExpiresIn:
		return "expiry-" + expiryChoices[0].Value
	}
	return field
}

// keyDescribedBy lists the ids describing a field of the key form.
func keyDescribedBy(f keyFormView, field, hint string) string {
	if f.Errors[field] != "" {
		return hint + " " + field + "-error"
	}
	return hint
}
