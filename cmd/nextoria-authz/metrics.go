package main

import (
	"context"
	"fmt"
	"net"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nextoria/authz/metrics"
)

// serveMetrics serves the app's metrics at GET /metrics on their own
// listener (metrics.listen) until ctx ends: never on the public listener.
func (a *app) serveMetrics(ctx context.Context, addr string) (net.Addr, error) {
	got, err := metrics.Serve(ctx, addr, a.metrics.Handler())
	if err != nil {
		return nil, fmt.Errorf("metrics listener on %s: %w", addr, err)
	}
	a.logger.Info("serving metrics", "addr", got.String(), "path", metrics.Path)
	return got, nil
}

// newMetrics returns the server's metrics, with the pool's statistics, or
// nil when metrics.listen is empty.
func newMetrics(cfg MetricsConfig, pool *pgxpool.Pool) *metrics.Metrics {
	if cfg.Listen == "" {
		return nil
	}
	m := metrics.New()
	m.RegisterPool(func() metrics.PoolStats { return poolStats(pool.Stat()) })
	return m
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
