package web

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nextoria/authz/storage"
)

// fakeAudit keeps audit events in memory, following storage's rules: an
// event is kept only when its change succeeded, listings are newest first
// with keyset pagination.
type fakeAudit struct {
	mu     sync.Mutex
	events []storage.AuditEvent
	store  *fakeStore // the people of ListWorkspaceUsers
	clock  time.Time
}

func (f *fakeAudit) RecordAudit(ctx context.Context, ev storage.AuditEvent) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Contains(storage.AuditActions, ev.Action) {
		return errFake("unknown action " + ev.Action)
	}
	if f.clock.IsZero() {
		f.clock = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	f.clock = f.clock.Add(time.Second)
	if ip, ua, ok := storage.RequestSource(ctx); ok && !ev.ClientIP.IsValid() {
		ev.ClientIP, ev.UserAgent = ip, ua
	}
	ev.ID = int64(len(f.events) + 1)
	ev.Time = f.clock
	f.events = append(f.events, ev)
	return nil
}

func (f *fakeAudit) RecordAccountAudit(ctx context.Context, email string, ev storage.AuditEvent) (bool, error) {
	if f.store == nil {
		return false, nil
	}
	f.store.mu.Lock()
	u, ok := f.store.users[strings.ToLower(email)]
	f.store.mu.Unlock()
	if !ok {
		return false, nil
	}
	ev.WorkspaceID, ev.ActorKind, ev.ActorID, ev.TargetKind, ev.TargetID = u.WorkspaceID, storage.ActorUser, u.ID, storage.TargetUser, u.ID
	return true, f.RecordAudit(ctx, ev)
}

func (f *fakeAudit) Audited(ctx context.Context, change func(ctx context.Context) (storage.AuditEvent, error)) error {
	ev, err := change(ctx)
	if err != nil {
		return err
	}
	return f.RecordAudit(ctx, ev)
}

func (f *fakeAudit) ListAuditEvents(_ context.Context, q storage.AuditQuery) ([]storage.AuditEvent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []storage.AuditEvent
	for i := len(f.events) - 1; i >= 0; i-- {
		ev := f.events[i]
		switch {
		case ev.WorkspaceID != q.WorkspaceID,
			q.Action != "" && ev.Action != q.Action,
			q.Person != "" && !(ev.ActorKind == storage.ActorUser && ev.ActorID == q.Person) &&
				!(ev.TargetKind == storage.TargetUser && ev.TargetID == q.Person),
			!q.After.IsZero() && !(ev.Time.Before(q.After.Time) || ev.Time.Equal(q.After.Time) && ev.ID < q.After.ID):
			continue
		}
		ev.ActorEmail, ev.TargetEmail = f.email(ev.ActorKind, ev.ActorID), f.email(ev.TargetKind, ev.TargetID)
		out = append(out, ev)
		if len(out) == q.Limit {
			break
		}
	}
	return out, nil
}

func (f *fakeAudit) ListWorkspaceUsers(_ context.Context, workspaceID string) ([]storage.User, error) {
	var out []storage.User
	if f.store != nil {
		f.store.mu.Lock()
		for _, u := range f.store.users {
			if u.WorkspaceID == workspaceID {
				u.PasswordHash = ""
				out = append(out, u)
			}
		}
		f.store.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b storage.User) int { return strings.Compare(a.Email, b.Email) })
	return out, nil
}

// actions returns the actions recorded, oldest first.
func (f *fakeAudit) actions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, ev := range f.events {
		out = append(out, ev.Action)
	}
	return out
}

// errFake is an error of a fake.
type errFake string

func (e errFake) Error() string { return string(e) }

// email is the e-mail of the user a user actor or target names.
func (f *fakeAudit) email(kind, id string) string {
	if kind != storage.ActorUser || f.store == nil {
		return ""
	}
	f.store.mu.Lock()
	defer f.store.mu.Unlock()
	for _, u := range f.store.users {
		if u.ID == id {
			return u.Email
		}
	}
	return ""
}
