package authz

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/nextoria/authz/storage"
)

// grantUses collects "last used" stamps of consent grants in memory, so that
// a refresh does not cost a database write; they are written in one
// statement by FlushGrantUses.
type grantUses struct {
	mu   sync.Mutex
	uses map[[2]string]time.Time // (user id, client id) → latest use
}

func (g *grantUses) record(userID, clientID string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.uses == nil {
		g.uses = make(map[[2]string]time.Time)
	}
	g.uses[[2]string{userID, clientID}] = time.Now()
}

func (g *grantUses) take() []storage.GrantUse {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]storage.GrantUse, 0, len(g.uses))
	for k, at := range g.uses {
		out = append(out, storage.GrantUse{UserID: k[0], ClientID: k[1], At: at})
	}
	g.uses = nil
	return out
}

// FlushGrantUses writes the recorded grant uses. On failure they are kept
// for the next flush.
func (s *Server) FlushGrantUses(ctx context.Context) error {
	uses := s.grantUses.take()
	if err := s.store.TouchGrants(ctx, uses); err != nil {
		for _, u := range uses {
			s.grantUses.record(u.UserID, u.ClientID)
		}
		return err
	}
	return nil
}

// RunGrantUseFlusher flushes grant uses every interval until ctx ends.
func (s *Server) RunGrantUseFlusher(ctx context.Context, interval time.Duration) {
	every(ctx, interval, s.log, "record consent grant use", s.FlushGrantUses)
}

// every runs fn every interval until ctx ends, logging its failures.
func every(ctx context.Context, interval time.Duration, log *slog.Logger, what string, fn func(context.Context) error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				log.ErrorContext(ctx, what, "error", err)
			}
		}
	}
}
