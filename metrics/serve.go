package metrics

import (
	"context"
	"net"
	"net/http"
	"time"
)

// Path is where the metrics listener serves the metrics.
const Path = "/metrics"

// Serve listens on addr and serves h at GET /metrics, and nothing else,
// until ctx ends. It returns the address listened on (addr may ask for
// port 0).
func Serve(ctx context.Context, addr string, h http.Handler) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr(), nil
}
