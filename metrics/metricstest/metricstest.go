// Package metricstest reads metrics the way Prometheus does, for tests:
// scrape a /metrics endpoint, read one series' value, and check that no
// label value holds something it must not (a token, a secret, an e-mail).
package metricstest

import (
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families are parsed metric families by name.
type Families map[string]*dto.MetricFamily

// Scrape fetches and parses the Prometheus text exposition at url.
func Scrape(t testing.TB, url string) Families {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", url, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// FromSlice indexes gathered families (prometheus.Gatherer.Gather) by name.
func FromSlice(fams []*dto.MetricFamily) Families {
	out := make(Families, len(fams))
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// Value is the value of the series of metric name that has the label pairs
// given (name, value, ...) among its labels: a counter's or gauge's value,
// a histogram's sample count; 0 when there is no such series.
func (f Families) Value(name string, pairs ...string) float64 {
	fam, ok := f[name]
	if !ok {
		return 0
	}
next:
	for _, m := range fam.GetMetric() {
		for i := 0; i+1 < len(pairs); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == pairs[i] && lp.GetValue() == pairs[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		case m.Untyped != nil:
			return m.GetUntyped().GetValue()
		}
	}
	return 0
}

// CheckLabelsLack fails t if any label value holds one of the non-empty
// strings in secrets.
func (f Families) CheckLabelsLack(t testing.TB, secrets ...string) {
	t.Helper()
	for _, fam := range f {
		for _, m := range fam.GetMetric() {
			for _, lp := range m.GetLabel() {
				for _, s := range secrets {
					if s != "" && strings.Contains(lp.GetValue(), s) {
						t.Errorf("%s has a label %s=%q holding a value it must not (%.12s…)", fam.GetName(), lp.GetName(), lp.GetValue(), s)
					}
				}
			}
		}
	}
}
