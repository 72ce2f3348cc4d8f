package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// PoolStats is a snapshot of a database connection pool's statistics, as
// pgxpool.Stat reports them.
type PoolStats struct {
	AcquiredConns, IdleConns, ConstructingConns, TotalConns, MaxConns int32
	AcquireCount, EmptyAcquireCount, CanceledAcquireCount             int64
	NewConnsCount, MaxLifetimeDestroyCount, MaxIdleDestroyCount       int64
	AcquireDuration, EmptyAcquireWaitTime                             time.Duration
}

// RegisterPool adds the nextoria_db_pool_* metrics, read from stats at
// each scrape. On a nil *Metrics it does nothing.
func (m *Metrics) RegisterPool(stats func() PoolStats) {
	if m == nil {
		return
	}
	m.reg.MustRegister(newPoolCollector(stats))
}

// poolCollector turns pool statistics into metrics at scrape time; the pool
// keeps the counts itself, so nothing is recorded per query.
type poolCollector struct {
	stats func() PoolStats
	descs poolDescs
}

type poolDescs struct {
	acquired, idle, constructing, total, max  *prometheus.Desc
	acquires, emptyAcquires, canceledAcquires *prometheus.Desc
	newConns, lifetimeDestroys, idleDestroys  *prometheus.Desc
	acquireDuration, emptyAcquireWait         *prometheus.Desc
}

func newPoolCollector(stats func() PoolStats) *poolCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "db_pool", name), help, nil, nil)
	}
	return &poolCollector{stats: stats, descs: poolDescs{
		acquired:         d("acquired_conns", "Connections currently in use."),
		idle:             d("idle_conns", "Connections currently idle in the pool."),
		constructing:     d("constructing_conns", "Connections being opened."),
		total:            d("total_conns", "Connections in the pool: acquired, idle and being opened."),
		max:              d("max_conns", "The most connections the pool may hold."),
		acquires:         d("acquires_total", "Connections acquired from the pool."),
		emptyAcquires:    d("empty_acquires_total", "Acquires that had to wait for a connection because none was idle."),
		canceledAcquires: d("canceled_acquires_total", "Acquires given up (context ended) before a connection was free."),
		newConns:         d("new_conns_total", "Connections opened."),
		lifetimeDestroys: d("max_lifetime_destroys_total", "Connections closed for reaching their maximum lifetime."),
		idleDestroys:     d("max_idle_destroys_total", "Connections closed for being idle too long."),
		acquireDuration:  d("acquire_duration_seconds_total", "Total time spent acquiring connections."),
		emptyAcquireWait: d("empty_acquire_wait_seconds_total", "Total time acquires spent waiting because no connection was idle."),
	}}
}

// Describe sends every descriptor.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	d := c.descs
	for _, desc := range []*prometheus.Desc{d.acquired, d.idle, d.constructing, d.total, d.max,
		d.acquires, d.emptyAcquires, d.canceledAcquires, d.newConns, d.lifetimeDestroys, d.idleDestroys,
		d.acquireDuration, d.emptyAcquireWait} {
		ch <- desc
	}
}

// Collect reads the pool's statistics once and sends them.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s, d := c.stats(), c.descs
	gauge := func(desc *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v)
	}
	counter := func(desc *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v)
	}
	gauge(d.acquired, float64(s.AcquiredConns))
	gauge(d.idle, float64(s.IdleConns))
	gauge(d.constructing, float64(s.ConstructingConns))
	gauge(d.total, float64(s.TotalConns))
	gauge(d.max, float64(s.MaxConns))
	counter(d.acquires, float64(s.AcquireCount))
	counter(d.emptyAcquires, float64(s.EmptyAcquireCount))
	counter(d.canceledAcquires, float64(s.CanceledAcquireCount))
	counter(d.newConns, float64(s.NewConnsCount))
	counter(d.lifetimeDestroys, float64(s.MaxLifetimeDestroyCount))
	counter(d.idleDestroys, float64(s.MaxIdleDestroyCount))
	counter(d.acquireDuration, s.AcquireDuration.Seconds())
	counter(d.emptyAcquireWait, s.EmptyAcquireWaitTime.Seconds())
}
