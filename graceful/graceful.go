// Package graceful stops an HTTP server the way load balancers expect. When
// the process is told to stop, the server first reports itself not ready
// while it keeps serving for a drain period, so that health checks take the
// instance out of rotation before anything is refused; keep-alive
// connections are told to close meanwhile, so clients reconnect elsewhere.
// Then the listener closes and the requests in flight finish, within a
// bound. The caller writes its buffered data afterwards and exits 0.
package graceful

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

// Default durations of Options.
const (
	DefaultDrain   = 5 * time.Second
	DefaultTimeout = 25 * time.Second
)

// Options tune Serve.
type Options struct {
	// Drain is how long the server keeps serving, reporting not ready,
	// after the stop signal. 0 skips the drain.
	Drain time.Duration
	// Timeout bounds the wait for requests in flight once the listener
	// is closed; 0 means DefaultTimeout.
	Timeout time.Duration
	// Logger receives the shutdown's progress; nil means slog.Default().
	Logger *slog.Logger
}

// State is a readiness flag: a readiness check answers 503 once Draining
// is true. The zero value is ready.
type State struct {
	draining atomic.Bool
}

// Draining reports whether the server is on its way out.
func (s *State) Draining() bool { return s.draining.Load() }

// Serve runs serve, typically srv.Serve or srv.ServeTLS on a listener,
// until ctx ends, then shuts srv down: it marks st draining and disables
// keep-alives at once, keeps serving for opts.Drain, and then calls
// srv.Shutdown bounded by opts.Timeout. Requests keep their context through
// all of it: give srv a BaseContext that ctx's end does not cancel.
//
// Serve returns nil once every request has finished, an error when serve
// fails or requests were still running at the timeout (their connections
// are then closed).
func Serve(ctx context.Context, srv *http.Server, st *State, serve func() error, opts Options) error {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	served := make(chan error, 1)
	go func() { served <- serve() }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	st.draining.Store(true)
	// Idle keep-alive connections close now; busy ones after their response,
	// which carries "Connection: close".
	srv.SetKeepAlivesEnabled(false)
	if opts.Drain > 0 {
		log.Info("draining: reporting not ready while still serving", "drain", opts.Drain.String())
		t := time.NewTimer(opts.Drain)
		select {
		case <-t.C:
		case err := <-served:
			t.Stop()
			return fmt.Errorf("serve: %w", err)
		}
	}

	log.Info("shutting down: no new connections, finishing requests in flight", "timeout", timeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: requests still in flight after %s were cut off: %w", timeout, err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
