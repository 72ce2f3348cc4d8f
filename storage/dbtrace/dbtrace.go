// Package dbtrace counts the statements and network round trips that the
// work of one context (typically one HTTP request) makes to PostgreSQL.
//
// Install Tracer on a pool (storage.PoolOptions.Tracer), attach a Recorder
// to a request's context with WithRecorder, and read the Recorder once the
// request is done. Work on a context without a Recorder is not recorded, and
// costs one context lookup per statement.
//
// Counting rules: every Exec, Query and QueryRow is one round trip (BEGIN and
// COMMIT included: pgx sends them as statements); a batch is one round trip
// however many statements it holds, since pgx pipelines it; preparing a
// statement (pgx's statement cache, on the first use of a statement on a
// connection) is counted apart, in Prepares, as it does not recur.
package dbtrace

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5"
)

// Statement is one statement sent to the database.
type Statement struct {
	SQL  string
	Args []any
	// Batch is the batch's index in the recording, counting from 1, for a
	// statement sent in a batch; 0 for a statement sent alone.
	Batch int
}

// Recorder accumulates what the work of one context sent to the database.
// It is safe for concurrent use.
type Recorder struct {
	mu         sync.Mutex
	statements []Statement
	roundTrips int
	batches    int
	prepares   int
}

// RoundTrips reports the network round trips recorded so far.
func (r *Recorder) RoundTrips() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.roundTrips
}

// Prepares reports the statements prepared so far (not counted as round trips).
func (r *Recorder) Prepares() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.prepares
}

// Statements returns a copy of the statements recorded so far, in order.
func (r *Recorder) Statements() []Statement {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Statement(nil), r.statements...)
}

// Share adds what o recorded to r: o recorded a statement made on behalf of
// several contexts at once (one answering several requests), and each of
// them waited for its round trips.
func (r *Recorder) Share(o *Recorder) {
	o.mu.Lock()
	statements, roundTrips, batches, prepares := append([]Statement(nil), o.statements...), o.roundTrips, o.batches, o.prepares
	o.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statements = append(r.statements, statements...)
	r.roundTrips += roundTrips
	r.batches += batches
	r.prepares += prepares
}

// Reset forgets everything recorded so far.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statements, r.roundTrips, r.batches, r.prepares = nil, 0, 0, 0
}

type recorderKey struct{}

// WithRecorder returns a context whose database work is recorded in r.
func WithRecorder(ctx context.Context, r *Recorder) context.Context {
	return context.WithValue(ctx, recorderKey{}, r)
}

// FromContext returns the Recorder of ctx, or nil.
func FromContext(ctx context.Context) *Recorder {
	r, _ := ctx.Value(recorderKey{}).(*Recorder)
	return r
}

// Tracer is a pgx tracer that records into the Recorder of each statement's
// context. OnRoundTrip, when set, is called once per round trip of every
// context, recorded or not (for a metric).
type Tracer struct {
	OnRoundTrip func()
}

var (
	_ pgx.QueryTracer   = Tracer{}
	_ pgx.BatchTracer   = Tracer{}
	_ pgx.PrepareTracer = Tracer{}
)

// TraceQueryStart records one statement and one round trip.
func (t Tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if t.OnRoundTrip != nil {
		t.OnRoundTrip()
	}
	if r := FromContext(ctx); r != nil {
		r.mu.Lock()
		r.roundTrips++
		r.statements = append(r.statements, Statement{SQL: data.SQL, Args: data.Args})
		r.mu.Unlock()
	}
	return ctx
}

// TraceQueryEnd does nothing.
func (Tracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceBatchStart records one round trip for the whole batch.
func (t Tracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	if t.OnRoundTrip != nil {
		t.OnRoundTrip()
	}
	if r := FromContext(ctx); r != nil {
		r.mu.Lock()
		r.roundTrips++
		r.batches++
		r.mu.Unlock()
	}
	return ctx
}

// TraceBatchQuery records one statement of the current batch.
func (Tracer) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	if r := FromContext(ctx); r != nil {
		r.mu.Lock()
		r.statements = append(r.statements, Statement{SQL: data.SQL, Args: data.Args, Batch: r.batches})
		r.mu.Unlock()
	}
}

// TraceBatchEnd does nothing.
func (Tracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// TracePrepareStart counts a statement prepared for the statement cache.
func (Tracer) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	if r := FromContext(ctx); r != nil {
		r.mu.Lock()
		r.prepares++
		r.mu.Unlock()
	}
	return ctx
}

// TracePrepareEnd does nothing.
func (Tracer) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}
