package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nextoria/authz/storage"
)

// AuditLog records the security events of the browser surface and lists
// them on the Security log page. *storage.Store satisfies it; tests use a
// fake. Audited runs a change and records its event in one transaction
// (see storage.Store.Audited).
type AuditLog interface {
	RecordAudit(ctx context.Context, ev storage.AuditEvent) error
	RecordAccountAudit(ctx context.Context, email string, ev storage.AuditEvent) (bool, error)
	Audited(ctx context.Context, change func(ctx context.Context) (storage.AuditEvent, error)) error
	ListAuditEvents(ctx context.Context, q storage.AuditQuery) ([]storage.AuditEvent, error)
	ListWorkspaceUsers(ctx context.Context, workspaceID string) ([]storage.User, error)
}

var _ AuditLog = (*storage.Store)(nil)

// userEvent is an event done by the signed-in user p, seen by p's workspace.
func userEvent(p storage.Principal, action, targetKind, targetID string, details map[string]any) storage.AuditEvent {
	return storage.AuditEvent{
		WorkspaceID: p.WorkspaceID, ActorKind: storage.ActorUser, ActorID: p.UserID,
		Action: action, TargetKind: targetKind, TargetID: targetID, Details: details,
	}
}

// recordAudit records an event that goes with no change (a failed or
// throttled sign-in). A failure is logged and does not change the answer:
// the person is told the same thing either way.
func (s *Server) recordAudit(ctx context.Context, ev storage.AuditEvent) {
	if err := s.audit.RecordAudit(ctx, ev); err != nil {
		s.log.ErrorContext(ctx, "record audit event", "action", ev.Action, "error", err)
	}
}

// pathSecurityLog is the Security log page.
const pathSecurityLog = "/settings/security-log"

// navSecurityLog is its navigation entry, shown to administrators only.
const navSecurityLog = "security-log"

// securityLogPage is how many events one page shows.
const securityLogPage = 50

// auditRow is one event as the Security log shows it.
type auditRow struct {
	storage.AuditEvent
	Actor, Target, IP string
}

// auditFilter is the Security log's filter form.
type auditFilter struct {
	Action, Person string
}

// query is the filter as URL query parameters, with the cursor of the page
// to show (zero for the first).
func (f auditFilter) query(after storage.AuditCursor) string {
	v := url.Values{}
	if f.Action != "" {
		v.Set("action", f.Action)
	}
	if f.Person != "" {
		v.Set("person", f.Person)
	}
	if !after.IsZero() {
		v.Set("after", formatCursor(after))
	}
	if len(v) == 0 {
		return pathSecurityLog
	}
	return pathSecurityLog + "?" + v.Encode()
}

// securityLogView is the Security log page.
type securityLogView struct {
	Filter  auditFilter
	Actions []string
	People  []storage.User
	Rows    []auditRow
	// Next is the URL of the following (older) page; "" on the last page.
	Next string
	// First is the URL of the first page when this is a later one.
	First string
}

// formatCursor writes a keyset cursor as "<unix nanoseconds>.<id>".
func formatCursor(c storage.AuditCursor) string {
	return strconv.FormatInt(c.Time.UnixNano(), 10) + "." + strconv.FormatInt(c.ID, 10)
}

// parseCursor reads formatCursor's form; ok is false for anything else.
func parseCursor(s string) (storage.AuditCursor, bool) {
	ns, id, found := strings.Cut(s, ".")
	if !found {
		return storage.AuditCursor{}, false
	}
	n, err1 := strconv.ParseInt(ns, 10, 64)
	i, err2 := strconv.ParseInt(id, 10, 64)
	if err1 != nil || err2 != nil || i <= 0 {
		return storage.AuditCursor{}, false
	}
	return storage.AuditCursor{Time: time.Unix(0, n), ID: i}, true
}

// handleSecurityLog shows the workspace's audit log to its administrators,
// newest first, filtered by action and by person, a page at a time (keyset
// pagination: "Older events" continues after the last event shown). Other
// members get 403.
func (s *Server) handleSecurityLog(w http.ResponseWriter, r *http.Request, p storage.Principal) {
	if p.Role != storage.RoleAdmin {
		s.RenderError(w, r, http.StatusForbidden, "Administrators only",
			"Only the administrators of your workspace can read its security log.")
		return
	}
	q := r.URL.Query()
	if field, bad := invalidField(q); bad {
		s.log.InfoContext(r.Context(), "security log: invalid text", "field", displayText(field))
		s.RenderError(w, r, http.StatusBadRequest, "Bad request", "The filter contained characters that are not valid text.")
		return
	}
	f := auditFilter{Action: q.Get("action"), Person: q.Get("person")}
	if f.Action != "" && !slices.Contains(storage.AuditActions, f.Action) {
		s.RenderError(w, r, http.StatusBadRequest, "Bad request", "There is no such action. Choose one from the list.")
		return
	}
	var after storage.AuditCursor
	if a := q.Get("after"); a != "" {
		c, ok := parseCursor(a)
		if !ok {
			s.RenderError(w, r, http.StatusBadRequest, "Bad request", "This page link is malformed. Start again from the first page.")
			return
		}
		after = c
	}
	ctx := r.Context()
	people, err := s.audit.ListWorkspaceUsers(ctx, p.WorkspaceID)
	if err != nil {
		s.log.ErrorContext(ctx, "security log: list people", "error", err)
		s.renderStoreError(w, r, err)
		return
	}
	if f.Person != "" && !slices.ContainsFunc(people, func(u storage.User) bool { return u.ID == f.Person }) {
		s.RenderError(w, r, http.StatusBadRequest, "Bad request", "There is no such person in your workspace. Choose one from the list.")
		return
	}
	events, err := s.audit.ListAuditEvents(ctx, storage.AuditQuery{
		WorkspaceID: p.WorkspaceID, Action: f.Action, Person: f.Person, After: after, Limit: securityLogPage + 1,
	})
	if err != nil {
		s.log.ErrorContext(ctx, "security log: list events", "error", err)
		s.renderStoreError(w, r, err)
		return
	}
	view := securityLogView{Filter: f, Actions: storage.AuditActions, People: people}
	if len(events) > securityLogPage {
		events = events[:securityLogPage]
		last := events[len(events)-1]
		view.Next = f.query(storage.AuditCursor{Time: last.Time, ID: last.ID})
	}
	if !after.IsZero() {
		view.First = f.query(storage.AuditCursor{})
	}
	for _, ev := range events {
		view.Rows = append(view.Rows, auditRow{AuditEvent: ev, Actor: actorLabel(ev), Target: targetLabel(ev), IP: ipLabel(ev)})
	}
	c, _ := s.chrome(w, r, p, navSecurityLog)
	s.render(w, r, http.StatusOK, securityLogPageView(c, view))
}

// actorLabel says who did it: a person's e-mail (or id, once deleted), the
// operator's name, an app's client_id, a registration token's id, or the
// server.
func actorLabel(ev storage.AuditEvent) string {
	switch ev.ActorKind {
	case storage.ActorUser:
		return userLabel(ev.ActorEmail, ev.ActorID)
	case storage.ActorOperator:
		return "operator " + ev.ActorID
	case storage.ActorClient:
		return "app " + ev.ActorID
	case storage.ActorRegistrationToken:
		return "registration token " + ev.ActorID
	}
	return "system"
}

// targetLabel says what the event is about.
func targetLabel(ev storage.AuditEvent) string {
	switch ev.TargetKind {
	case storage.TargetUser:
		return userLabel(ev.TargetEmail, ev.TargetID)
	case storage.TargetApp:
		if name, ok := ev.Details["app_name"].(string); ok && name != "" {
			return "app “" + name + "” (" + ev.TargetID + ")"
		}
		return "app " + ev.TargetID
	case storage.TargetAPIKey:
		if name, ok := ev.Details["key_name"].(string); ok && name != "" {
			return "API key “" + name + "”"
		}
		return "API key " + ev.TargetID
	case storage.TargetSigningKey:
		return "signing key " + ev.TargetID
	}
	return ""
}

// userLabel names a user by e-mail, or by id once the user is deleted.
func userLabel(email, id string) string {
	if email != "" {
		return email
	}
	return "deleted user " + id
}

// ipLabel is the client address of ev, or "" for none.
func ipLabel(ev storage.AuditEvent) string {
	if ev.ClientIP.IsValid() {
		return ev.ClientIP.String()
	}
	return ""
}

// int64String formats an event id for an attribute.
func int64String(n int64) string { return strconv.FormatInt(n, 10) }

// recordSignInEvent records a failed or throttled sign-in against the
// account whose e-mail was typed, as its actor and target, in the account's
// workspace (storage.Store.RecordAccountAudit). An e-mail that belongs to
// nobody is not recorded at all, so the log neither keeps what strangers
// type nor tells which addresses have accounts; the client address of such
// attempts is in the server log.
func (s *Server) recordSignInEvent(ctx context.Context, action, email string, details map[string]any) {
	if !validText(email) || email == "" {
		return
	}
	ev := storage.AuditEvent{Action: action, Details: details}
	if _, err := s.audit.RecordAccountAudit(ctx, email, ev); err != nil {
		s.log.ErrorContext(ctx, "record audit event", "action", action, "error", err)
	}
}

// endLoginSession deletes a login session and records the sign-out of its
// user in the same transaction. A session that is unknown or expired is
// deleted without an event.
func (s *Server) endLoginSession(ctx context.Context, idHash []byte) error {
	p, err := s.store.GetPrincipal(ctx, idHash)
	if errors.Is(err, storage.ErrNotFound) {
		return s.store.DeleteLoginSession(ctx, idHash)
	}
	if err != nil {
		return err
	}
	return s.audit.Audited(ctx, func(ctx context.Context) (storage.AuditEvent, error) {
		return userEvent(p, storage.AuditSignOut, storage.TargetUser, p.UserID, nil), s.store.DeleteLoginSession(ctx, idHash)
	})
}

// appEvent is a change by p to app, seen by the app's workspace.
func appEvent(p storage.Principal, action string, app storage.App, details map[string]any) storage.AuditEvent {
	ev := userEvent(p, action, storage.TargetApp, app.ClientID, details)
	if ev.Details == nil {
		ev.Details = map[string]any{}
	}
	ev.Details["app_name"] = app.Name
	if app.WorkspaceID != "" {
		ev.WorkspaceID = app.WorkspaceID
	}
	return ev
}

// keyEvent is a change by p to API key k, seen by the key's workspace. It
// names the key by id and name: never the key, nor its display prefix.
func keyEvent(p storage.Principal, action string, k storage.APIKey) storage.AuditEvent {
	ev := userEvent(p, action, storage.TargetAPIKey, k.ID, map[string]any{"key_name": k.Name, "scopes": k.Scopes})
	if k.WorkspaceID != "" {
		ev.WorkspaceID = k.WorkspaceID
	}
	return ev
}
