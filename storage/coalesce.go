package storage

import (
	"context"
	"sync"
	"time"

	"github.com/nextoria/authz/storage/dbtrace"
)

// coalescer gathers lookups by key that arrive while earlier ones are in
// flight into one statement. A lookup that finds a free slot (fewer than
// runs statements in flight) is sent at once, alone, and so waits for
// nothing. The others queue; the first goroutine to finish its statement
// takes the whole queue (up to batch keys) and sends it as one statement.
//
// Under load this turns n introspections into far fewer statements: one
// write and one read on the PostgreSQL socket instead of n of each (system
// calls are most of a lookup's cost on the server's side), and one
// executor start-up in PostgreSQL. Every lookup still costs its request
// one round trip.
//
// No goroutine is started: the requests' own goroutines take turns to run
// the statements. A goroutine whose own key has been answered hands the
// turn to the first queued lookup that has none, and returns.
type coalescer[V any] struct {
	// fetch looks keys up in one statement: found[i] and vals[i] answer
	// keys[i]. For several requests, ctx carries no cancellation of any
	// of them and is bounded by timeout, and what fetch records is
	// recorded for every request of the batch; for a lookup in a
	// transaction, ctx is the request's.
	fetch func(ctx context.Context, keys []string) (vals []V, found []bool, err error)
	runs  int // statements in flight at most
	batch int // keys per statement at most
	// timeout bounds each statement, which no request's context can
	// cancel; 0 means none.
	timeout time.Duration

	mu      sync.Mutex
	queue   []*coalescedCall[V]
	running int
}

type coalescedCall[V any] struct {
	key string
	rec *dbtrace.Recorder

	// Set before done, under coalescer.mu.
	val   V
	found bool
	err   error
	done  bool
	// leading is set when the turn was handed to this call.
	leading bool
	// wake receives true when the call is handed the turn and false when it
	// is answered: at most one of each, hence the buffer of 2.
	wake chan bool
}

// get looks key up, alone or together with lookups made meanwhile. In a
// transaction (ordinary or pending), it is the transaction's own statement:
// it must see the transaction's writes.
func (c *coalescer[V]) get(ctx context.Context, key string) (V, bool, error) {
	if inTransaction(ctx) {
		vals, found, err := c.fetch(ctx, []string{key})
		if err != nil {
			var zero V
			return zero, false, err
		}
		return vals[0], found[0], nil
	}
	call := &coalescedCall[V]{key: key, rec: dbtrace.FromContext(ctx), wake: make(chan bool, 2)}
	c.mu.Lock()
	c.queue = append(c.queue, call)
	lead := c.running < c.runs
	if lead {
		c.running++
		call.leading = true
	}
	c.mu.Unlock()
	for !lead {
		select {
		case lead = <-call.wake:
			if !lead {
				// Answered; done was set before the signal.
				return call.val, call.found, call.err
			}
		case <-ctx.Done():
			return c.abandon(ctx, call)
		}
	}
	c.lead(call)
	return call.val, call.found, call.err
}

// abandon gives up waiting for call, whose request is done: it leaves the
// queue, and passes on the turn if it was handed one. A statement already
// carrying its key still answers it, to nobody (wake is buffered).
func (c *coalescer[V]) abandon(ctx context.Context, call *coalescedCall[V]) (V, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if call.done {
		return call.val, call.found, call.err
	}
	for i, queued := range c.queue {
		if queued == call {
			c.queue = append(c.queue[:i:i], c.queue[i+1:]...)
			break
		}
	}
	if call.leading {
		c.handOff()
	}
	var zero V
	return zero, false, mapError(ctx.Err())
}

// lead runs statements from the head of the queue until own is answered,
// then passes the turn on.
func (c *coalescer[V]) lead(own *coalescedCall[V]) {
	for {
		c.mu.Lock()
		if own.done {
			c.handOff()
			c.mu.Unlock()
			return
		}
		n := min(len(c.queue), c.batch)
		batch := make([]*coalescedCall[V], n)
		copy(batch, c.queue)
		c.queue = c.queue[n:]
		if len(c.queue) == 0 {
			c.queue = nil // let the backing array go
		}
		c.mu.Unlock()
		c.run(batch)
	}
}

// handOff passes the caller's turn to the first queued call that has none,
// or gives the turn up. c.mu is held.
func (c *coalescer[V]) handOff() {
	for _, next := range c.queue {
		if !next.leading {
			next.leading = true
			next.wake <- true
			return
		}
	}
	c.running--
}

// run looks up the keys of batch in one statement and answers each call.
func (c *coalescer[V]) run(batch []*coalescedCall[V]) {
	keys := make([]string, len(batch))
	for i, call := range batch {
		keys[i] = call.key
	}
	rec := &dbtrace.Recorder{}
	ctx := dbtrace.WithRecorder(context.Background(), rec)
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	vals, found, err := c.fetch(ctx, keys)
	for _, call := range batch {
		if call.rec != nil {
			call.rec.Share(rec)
		}
	}
	c.mu.Lock()
	for i, call := range batch {
		if err != nil {
			call.err = err
		} else {
			call.val, call.found = vals[i], found[i]
		}
		call.done = true
		call.wake <- false
	}
	c.mu.Unlock()
}

// CoalescedForm returns the statement that concurrent lookups like st share:
// st must be an access-token or API-key read sent alone, and the statement
// returned reads its key n times over, as several lookups would. ok is false
// for any other statement. The plan test explains both forms.
func CoalescedForm(st dbtrace.Statement, n int) (_ dbtrace.Statement, ok bool) {
	if len(st.Args) != 1 {
		return dbtrace.Statement{}, false
	}
	accessRead, _ := (&Store{}).sessionQuery(accessSessions, "")
	switch key := st.Args[0].(type) {
	case string:
		if st.SQL == accessRead {
			keys := make([]string, n)
			for i := range keys {
				keys[i] = key
			}
			return dbtrace.Statement{SQL: accessReadsSQL, Args: []any{keys}}, true
		}
	case []byte:
		if st.SQL == apiKeyByHashSQL {
			keys := make([][]byte, n)
			for i := range keys {
				keys[i] = key
			}
			return dbtrace.Statement{SQL: apiKeysByHashSQL, Args: []any{keys}}, true
		}
	}
	return dbtrace.Statement{}, false
}
