package storage

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// sqlstateRequire is raised by nextoria_require (migration 013): a
// conditional write in a batch changed nothing, and the batch is undone.
const sqlstateRequire = "NX001"

// queued is a write that may wait in a pending batch.
type queued struct {
	sql  string
	args []any
	// refused is the error a refusal by nextoria_require stands for.
	refused error
}

// mapErr maps the error of running q: a refusal by nextoria_require becomes
// q.refused, anything else goes through mapError.
func (q queued) mapErr(err error) error {
	var pgErr *pgconn.PgError
	if q.refused != nil && errors.As(err, &pgErr) && pgErr.Code == sqlstateRequire {
		return fmt.Errorf("%w: %w", q.refused, err)
	}
	return mapError(err)
}

// pendingTx is a transaction whose writes wait in memory and go to the
// database as one batch on Commit: one round trip, run by PostgreSQL as one
// implicit transaction (everything up to the batch's single Sync), so a
// failing statement undoes the whole batch. The first statement that needs
// an answer before then (anything not written through Store.write) turns it
// into an ordinary transaction instead: BEGIN, then the queued writes.
type pendingTx struct {
	items []queued
	tx    pgx.Tx // set once materialized
	// codeForms holds the form of each authorization code queued, by
	// hashed signature (see Store.CreatePKCERequestSession).
	codeForms map[string]url.Values
}

// noteCode records the form of a code whose row is queued.
func (p *pendingTx) noteCode(key string, form url.Values) {
	if p.codeForms == nil {
		p.codeForms = make(map[string]url.Values, 1)
	}
	p.codeForms[key] = form
}

// codeCarries reports whether the row of code key, queued in p, has the
// same values of params as form, at least one of them set.
func (p *pendingTx) codeCarries(key string, form url.Values, params []string) bool {
	code, ok := p.codeForms[key]
	if !ok {
		return false
	}
	set := false
	for _, k := range params {
		if code.Get(k) != form.Get(k) {
			return false
		}
		set = set || form.Get(k) != ""
	}
	return set
}

type pendingKey struct{}

// pendingFrom returns the pending transaction of ctx, or nil.
func pendingFrom(ctx context.Context) *pendingTx {
	p, _ := ctx.Value(pendingKey{}).(*pendingTx)
	return p
}

// writeBehindKey marks a context in which BeginTX defers writes (see
// WithWriteBehind).
type writeBehindKey struct{}

// WithWriteBehind returns a context in which BeginTX starts a pending
// transaction: the writes of fosite's transaction are sent as one batch on
// Commit instead of one statement at a time. The token endpoint uses it; a
// transaction that needs to read in between still works, as an ordinary one.
func WithWriteBehind(ctx context.Context) context.Context {
	return context.WithValue(ctx, writeBehindKey{}, true)
}

// WithWriteBatch returns a context whose writes through the store wait until
// FlushWrites sends them as one batch (one round trip, one transaction).
// The authorization endpoint uses it for the rows behind a new code.
func (s *Store) WithWriteBatch(ctx context.Context) context.Context {
	return context.WithValue(ctx, pendingKey{}, &pendingTx{})
}

// FlushWrites sends the writes waiting in ctx (see WithWriteBatch).
func (s *Store) FlushWrites(ctx context.Context) error {
	if err := s.commitPending(ctx, pendingFrom(ctx)); err != nil {
		return fmt.Errorf("storage: write batch: %w", err)
	}
	return nil
}

// DiscardWrites forgets the writes waiting in ctx (see WithWriteBatch), or
// rolls back the transaction they became; a no-op when there are none.
func (s *Store) DiscardWrites(ctx context.Context) {
	if p := pendingFrom(ctx); p != nil {
		_ = s.rollbackPending(ctx, p)
	}
}

// write runs q now, or queues it when ctx holds a pending transaction that
// has not been materialized.
func (s *Store) write(ctx context.Context, q queued) error {
	if p := pendingFrom(ctx); p != nil && p.tx == nil {
		p.items = append(p.items, q)
		return nil
	}
	_, err := s.db(ctx).Exec(ctx, q.sql, q.args...)
	return q.mapErr(err)
}

// materialize turns p into an ordinary READ COMMITTED transaction and sends
// the writes queued so far in it.
func (s *Store) materialize(ctx context.Context, p *pendingTx) (pgx.Tx, error) {
	if p.tx != nil {
		return p.tx, nil
	}
	bctx, cancel := s.bound(ctx)
	defer cancel()
	tx, err := s.pool.BeginTx(bctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return nil, fmt.Errorf("begin transaction: %w", mapError(err))
	}
	items := p.items
	p.tx, p.items = tx, nil
	if err := s.sendBatch(ctx, tx, items); err != nil {
		return nil, err
	}
	return tx, nil
}

// sendBatch sends items as one batch on db and reads every result; the
// first failure is returned, mapped.
func (s *Store) sendBatch(ctx context.Context, db interface {
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}, items []queued) error {
	if len(items) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, q := range items {
		b.Queue(q.sql, q.args...)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	br := db.SendBatch(ctx, b)
	var first error
	for _, q := range items {
		if _, err := br.Exec(); err != nil && first == nil {
			first = q.mapErr(err)
		}
	}
	if err := br.Close(); err != nil && first == nil {
		first = mapError(err)
	}
	return first
}

// commitPending commits p: the queued writes as one batch, or the
// materialized transaction. p is spent afterwards.
func (s *Store) commitPending(ctx context.Context, p *pendingTx) error {
	if p == nil {
		return nil
	}
	if p.tx != nil {
		tx := p.tx
		p.tx = nil
		cctx, cancel := s.bound(ctx)
		defer cancel()
		if err := tx.Commit(cctx); err != nil {
			return mapError(err)
		}
		return nil
	}
	items := p.items
	p.items = nil
	if len(items) > 1 && !s.readCommittedByDefault.Load() {
		// The batch's implicit transaction runs at the database's default
		// isolation; make it READ COMMITTED, as BeginTX does, unless
		// CheckIsolation found it already is: the chain lock relies on it.
		items = append([]queued{{sql: setReadCommittedSQL}}, items...)
	}
	return s.sendBatch(ctx, s.pool, items)
}

// setReadCommittedSQL makes a write batch's implicit transaction READ
// COMMITTED.
const setReadCommittedSQL = `SET TRANSACTION ISOLATION LEVEL READ COMMITTED`

// rollbackPending forgets p's queued writes or rolls its transaction back.
func (s *Store) rollbackPending(ctx context.Context, p *pendingTx) error {
	p.items, p.codeForms = nil, nil
	if p.tx == nil {
		return nil
	}
	tx := p.tx
	p.tx = nil
	rctx, cancel := s.bound(context.WithoutCancel(ctx))
	defer cancel()
	if err := tx.Rollback(rctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return mapError(err)
	}
	return nil
}

// failedDB answers every statement with the error that kept a pending
// transaction from starting.
type failedDB struct{ err error }

func (f failedDB) Exec(context.Context, string, ...any) (pgconn.CommandTag, error) {
	return pgconn.CommandTag{}, f.err
}

func (f failedDB) Query(context.Context, string, ...any) (pgx.Rows, error) { return nil, f.err }

func (f failedDB) QueryRow(context.Context, string, ...any) pgx.Row { return failedRow(f) }

type failedRow struct{ err error }

func (f failedRow) Scan(...any) error { return f.err }
