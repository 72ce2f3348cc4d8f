package resource

import "time"

// SetClock replaces the middleware's clock; call it before serving.
func SetClock(m *Middleware, now func() time.Time) { m.now = now }
