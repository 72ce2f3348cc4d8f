package main

import (
	"context"
	"fmt"
	"net"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nextoria/authz/metrics"
	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/dbtrace"
)

// serveMetrics serves the app's metrics at GET /metrics on their own
// listener (metrics.listen) until ctx ends: never on the public listener.
func (a *app) serveMetrics(ctx context.Context, addr string) (net.Addr, error) {
	got, err := metrics.ServeWith(ctx, addr, a.metrics.Handler(), metrics.ServeOptions{Pprof: a.cfg.Metrics.Pprof})
	if err != nil {
		return nil, fmt.Errorf("metrics listener on %s: %w", addr, err)
	}
	a.logger.Info("serving metrics", "addr", got.String(), "path", metrics.Path)
	if a.cfg.Metrics.Pprof {
		a.logger.Warn("pprof profiles are served on the metrics listener; keep this address private", "addr", got.String(), "path", metrics.PprofPath)
	}
	return got, nil
}

// newMetrics returns the server's metrics, or nil when metrics.listen is
// empty. The pool's statistics are added once the pool exists
// (registerPool); the pool needs the metrics first, for its tracer.
func newMetrics(cfg MetricsConfig) *metrics.Metrics {
	if cfg.Listen == "" {
		return nil
	}
	return metrics.New()
}

// poolOptions are the configured pool settings plus, with metrics on, a
// tracer counting every round trip in nextoria_db_round_trips_total.
func poolOptions(cfg DatabaseConfig, m *metrics.Metrics) storage.PoolOptions {
	opts := cfg.PoolOptions()
	if m != nil {
		opts.Tracer = dbtrace.Tracer{OnRoundTrip: m.DBRoundTrip}
	}
	return opts
}

// registerPool adds the nextoria_db_pool_* metrics of pool to m.
func registerPool(m *metrics.Metrics, pool *pgxpool.Pool) {
	m.RegisterPool(func() metrics.PoolStats { return poolStats(pool.Stat()) })
}

// poolStats copies pgxpool's statistics for the nextoria_db_pool_* metrics.
func poolStats(s *pgxpool.Stat) metrics.PoolStats {
	return metrics.PoolStats{
		AcquiredConns:           s.AcquiredConns(),
		IdleConns:               s.IdleConns(),
		ConstructingConns:       s.ConstructingConns(),
		TotalConns:              s.TotalConns(),
		MaxConns:                s.MaxConns(),
		AcquireCount:            s.AcquireCount(),
		EmptyAcquireCount:       s.EmptyAcquireCount(),
		CanceledAcquireCount:    s.CanceledAcquireCount(),
		NewConnsCount:           s.NewConnsCount(),
		MaxLifetimeDestroyCount: s.MaxLifetimeDestroyCount(),
		MaxIdleDestroyCount:     s.MaxIdleDestroyCount(),
		AcquireDuration:         s.AcquireDuration(),
		EmptyAcquireWaitTime:    s.EmptyAcquireWaitTime(),
	}
}
