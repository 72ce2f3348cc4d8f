package storage_test

import (
	"errors"
	"testing"

	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

func TestResourceServers(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := storagetest.NewStore(t, storage.Options{})
	rs, err := s.CreateResourceServer(ctx, "rs-hub", "Hub API", []byte("hash"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateResourceServer(ctx, "rs-hub", "Other", []byte("h2")); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("duplicate client_id: %v", err)
	}
	got, err := s.GetResourceServer(ctx, "rs-hub")
	if err != nil || got.ID != rs.ID || string(got.SecretHash) != "hash" || got.Name != "Hub API" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := s.GetResourceServer(ctx, "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	list, err := s.ListResourceServers(ctx)
	if err != nil || len(list) != 1 || list[0].SecretHash != nil {
		t.Fatalf("list: %+v %v", list, err)
	}
}
