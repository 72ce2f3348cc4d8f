package web

import (
	"testing"

	"github.com/nextoria/authz/storage"
)

func TestActorLabel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ev   storage.AuditEvent
		want string
	}{
		{storage.AuditEvent{ActorKind: storage.ActorUser, ActorID: "u1", ActorEmail: "ada@example.com"}, "ada@example.com"},
		{storage.AuditEvent{ActorKind: storage.ActorOperator, ActorID: "root"}, "operator root"},
		{storage.AuditEvent{ActorKind: storage.ActorClient, ActorID: "c1"}, "app c1"},
		{storage.AuditEvent{ActorKind: storage.ActorRegistrationToken, ActorID: "t1"}, "registration token t1"},
		{storage.AuditEvent{ActorKind: storage.ActorSystem}, "system"},
	} {
		if got := actorLabel(tc.ev); got != tc.want {
			t.Errorf("actorLabel(%s) = %q, want %q", tc.ev.ActorKind, got, tc.want)
		}
	}
}
