package apikey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nextoria/authz/consent"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
)

// MaxNameLen is the longest key name, in characters after trimming.
const MaxNameLen = 100

// Field names used as keys of FieldErrors; they match the form fields of the
// settings page that creates keys.
const (
	FieldName      = "name"
	FieldScopes    = "scopes"
	FieldExpiresIn = "expires_in"
)

// FieldErrors maps a field name (FieldName, FieldScopes, FieldExpiresIn) to
// a message fit to show next to that field.
type FieldErrors map[string]string

// Error lists the problems in a stable order.
func (fe FieldErrors) Error() string {
	keys := slices.Sorted(maps.Keys(fe))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + fe[k]
	}
	return "invalid API key: " + strings.Join(parts, "; ")
}

// Service creates, lists, revokes and looks up API keys. Its zero value is
// not usable: set Store and Hasher. It is safe for concurrent use; do not
// copy it after first use.
//
// Lookup remembers when each key was last used in memory, and RunFlusher (or
// Flush) writes those times in one batch, so that serving an API request never
// waits on a database write. last_used_at therefore lags real use by up to the
// flush interval, and a crash loses at most one interval of it.
type Service struct {
	Store *storage.Store
	// Hasher keys the stored hash of each key (secret.Keys.SecretHash).
	Hasher *secret.Hasher
	// Logger receives flush failures; slog.Default() when nil.
	Logger *slog.Logger

	mu       sync.Mutex
	lastUsed map[string]time.Time // key id → latest use not yet flushed
}

// Create validates the input and stores a new key of the workspace. It
// returns the stored key and the key itself: the only time the key exists in
// clear. createdBy is the creating user's id, "" when there is none (the
// CLI). expiresIn 0 means the key never expires. Invalid input is reported
// as FieldErrors (check with errors.As).
func (s *Service) Create(ctx context.Context, workspaceID, createdBy, name string, scopes []string, expiresIn time.Duration) (storage.APIKey, string, error) {
	name = strings.TrimSpace(name)
	if fe := validate(name, scopes, expiresIn); fe != nil {
		return storage.APIKey{}, "", fe
	}
	key, err := New()
	if err != nil {
		return storage.APIKey{}, "", err
	}
	p, err := Parse(key)
	if err != nil {
		return storage.APIKey{}, "", fmt.Errorf("apikey: create: new key does not parse: %w", err)
	}
	n := storage.NewAPIKey{
		WorkspaceID: workspaceID,
		CreatedBy:   createdBy,
		Name:        name,
		Scopes:      distinct(scopes),
		KeyHash:     s.Hasher.Sum([]byte(key)),
		DisplayID:   p.DisplayID,
	}
	if expiresIn > 0 {
		n.ExpiresAt = time.Now().Add(expiresIn)
	}
	k, err := s.Store.CreateAPIKey(ctx, n)
	if err != nil {
		return storage.APIKey{}, "", fmt.Errorf("apikey: create %q: %w", name, err)
	}
	return k, key, nil
}

// validate checks a key's name, scopes and lifetime (name already trimmed).
func validate(name string, scopes []string, expiresIn time.Duration) FieldErrors {
	fe := FieldErrors{}
	switch {
	case !utf8.ValidString(name):
		fe[FieldName] = "Name must be valid UTF-8 text."
	case name == "":
		fe[FieldName] = "Give the key a name, e.g. \"Zapier Integration\"."
	case utf8.RuneCountInString(name) > MaxNameLen:
		fe[FieldName] = fmt.Sprintf("Name must be at most %d characters.", MaxNameLen)
	case strings.ContainsFunc(name, func(r rune) bool { return r == utf8.RuneError || !unicode.IsPrint(r) }):
		fe[FieldName] = "Name must contain only printable characters."
	}
	if len(scopes) == 0 {
		fe[FieldScopes] = "Select at least one scope."
	} else if unknown := consent.Unknown(scopes); len(unknown) > 0 {
		fe[FieldScopes] = fmt.Sprintf("Unknown scope %q: use %s.", unknown[0], strings.Join(consent.APINames(), ", "))
	} else if i := slices.IndexFunc(scopes, func(n string) bool { return !slices.Contains(consent.APINames(), n) }); i >= 0 {
		fe[FieldScopes] = fmt.Sprintf("Scope %q is for signing a person in to an app and cannot be given to an API key: use %s.",
			scopes[i], strings.Join(consent.APINames(), ", "))
	}
	if expiresIn < 0 {
		fe[FieldExpiresIn] = "The lifetime cannot be negative (0 means the key never expires)."
	}
	if len(fe) == 0 {
		return nil
	}
	return fe
}

// distinct returns s without repeats, in first-seen order.
func distinct(s []string) []string {
	var out []string
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// List returns the workspace's keys, newest first, with uses not yet flushed
// already reflected in LastUsedAt.
func (s *Service) List(ctx context.Context, workspaceID string) ([]storage.APIKey, error) {
	keys, err := s.Store.ListAPIKeys(ctx, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("apikey: list: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, k := range keys {
		if t, ok := s.lastUsed[k.ID]; ok && t.After(k.LastUsedAt) {
			keys[i].LastUsedAt = t
		}
	}
	return keys, nil
}

// Revoke revokes a key of the workspace at once: the next Lookup finds it
// inactive. storage.ErrNotFound when the workspace has no such key.
func (s *Service) Revoke(ctx context.Context, workspaceID, id string) error {
	if err := s.Store.RevokeAPIKey(ctx, workspaceID, id); err != nil {
		return fmt.Errorf("apikey: revoke: %w", err)
	}
	return nil
}

// Lookup finds the key presented in an API request and reports whether it
// is active: known, not revoked and not expired. Text that is not a
// well-formed key is inactive without touching the database. The returned
// key (zero when unknown) carries its workspace's plan. The error is non-nil
// only when the answer is unknown (the database failed); an inactive key is
// not an error.
//
// An active key's use is recorded in memory, for the next Flush.
func (s *Service) Lookup(ctx context.Context, key string) (storage.APIKeyWithPlan, bool, error) {
	if _, err := Parse(key); err != nil {
		return storage.APIKeyWithPlan{}, false, nil
	}
	k, err := s.Store.GetAPIKeyByHash(ctx, s.Hasher.Sum([]byte(key)))
	if errors.Is(err, storage.ErrNotFound) {
		return storage.APIKeyWithPlan{}, false, nil
	} else if err != nil {
		return storage.APIKeyWithPlan{}, false, fmt.Errorf("apikey: lookup: %w", err)
	}
	now := time.Now()
	if !k.RevokedAt.IsZero() || (!k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt)) {
		return k, false, nil
	}
	s.mu.Lock()
	if s.lastUsed == nil {
		s.lastUsed = make(map[string]time.Time)
	}
	if now.After(s.lastUsed[k.ID]) {
		s.lastUsed[k.ID] = now
	}
	s.mu.Unlock()
	return k, true, nil
}

// Flush writes the recorded uses to the database in one statement. On
// failure the uses are kept for the next Flush.
func (s *Service) Flush(ctx context.Context) error {
	s.mu.Lock()
	batch := s.lastUsed
	s.lastUsed = nil
	s.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := s.Store.TouchAPIKeys(ctx, batch); err != nil {
		s.mu.Lock()
		if s.lastUsed == nil {
			s.lastUsed = make(map[string]time.Time, len(batch))
		}
		for id, t := range batch {
			if t.After(s.lastUsed[id]) {
				s.lastUsed[id] = t
			}
		}
		s.mu.Unlock()
		return fmt.Errorf("apikey: flush last use of %d keys: %w", len(batch), err)
	}
	return nil
}

// flushTimeout bounds the final flush when RunFlusher stops.
const flushTimeout = 10 * time.Second

// DefaultFlushInterval is RunFlusher's interval when given none.
const DefaultFlushInterval = time.Minute

// RunFlusher calls Flush every interval (DefaultFlushInterval when every is
// not positive) until ctx ends, then flushes once more, with a fresh
// deadline since ctx is done, and returns. Failures are logged and retried
// at the next tick. Run it in its own goroutine for the server's lifetime.
func (s *Service) RunFlusher(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultFlushInterval
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if err := s.Flush(ctx); err != nil && ctx.Err() == nil {
				s.logger().ErrorContext(ctx, "apikey: flush last use", "err", err)
			}
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
			defer cancel()
			if err := s.Flush(fctx); err != nil {
				s.logger().ErrorContext(fctx, "apikey: final flush of last use", "err", err)
			}
			return
		}
	}
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}
