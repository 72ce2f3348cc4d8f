package metrics

import (
	"context"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// Path is where the metrics listener serves the metrics.
const Path = "/metrics"

// PprofPath is where the metrics listener serves Go's profiles when
// ServeOptions.Pprof is on.
const PprofPath = "/debug/pprof/"

// ServeOptions adds to what the metrics listener serves.
type ServeOptions struct {
	// Pprof serves net/http/pprof's handlers under PprofPath. The profiles
	// show code paths and memory, never request data, but a CPU profile
	// costs the server while it runs: keep the listener private.
	Pprof bool
}

// Serve listens on addr and serves h at GET /metrics, and nothing else,
// until ctx ends. It returns the address listened on (addr may ask for
// port 0).
func Serve(ctx context.Context, addr string, h http.Handler) (net.Addr, error) {
	return ServeWith(ctx, addr, h, ServeOptions{})
}

// ServeWith is Serve with options.
func ServeWith(ctx context.Context, addr string, h http.Handler, opts ServeOptions) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, h)
	writeTimeout := 30 * time.Second
	if opts.Pprof {
		mux.HandleFunc("GET "+PprofPath, pprof.Index)
		mux.HandleFunc("GET "+PprofPath+"cmdline", pprof.Cmdline)
		mux.HandleFunc("GET "+PprofPath+"profile", pprof.Profile)
		mux.HandleFunc("GET "+PprofPath+"symbol", pprof.Symbol)
		mux.HandleFunc("POST "+PprofPath+"symbol", pprof.Symbol)
		mux.HandleFunc("GET "+PprofPath+"trace", pprof.Trace)
		// A CPU profile or trace streams for its ?seconds= (30 by default).
		writeTimeout = 0
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: writeTimeout}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr(), nil
}
