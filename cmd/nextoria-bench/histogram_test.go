package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsCoverEveryValue(t *testing.T) {
	t.Parallel()
	values := []uint64{0, 1, 63, 64, 65, 127, 128, 1000, 1 << 20, 1<<40 + 12345, 1<<63 - 1, 1 << 63, 1<<64 - 1}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= bucketCount {
			t.Fatalf("bucketOf(%d) = %d, outside [0, %d)", v, i, bucketCount)
		}
		lo, hi := bucketBounds(i)
		if v < lo || v > hi {
			t.Errorf("value %d in bucket %d = [%d, %d]", v, i, lo, hi)
		}
		if v >= subCount && float64(hi-lo+1)/float64(lo) > 1.0/halfCount+1e-12 {
			t.Errorf("bucket %d = [%d, %d] is wider than 1/%d of its values", i, lo, hi, halfCount)
		}
	}
	// Buckets are contiguous and ordered.
	for i := 1; i < bucketCount; i++ {
		_, prevHi := bucketBounds(i - 1)
		lo, _ := bucketBounds(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ends at %d", i, lo, prevHi)
		}
	}
}

func TestQuantiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		values func(r *rand.Rand) []time.Duration
	}{
		{"uniform 1..10000 µs", func(*rand.Rand) []time.Duration {
			var out []time.Duration
			for i := 1; i <= 10000; i++ {
				out = append(out, time.Duration(i)*time.Microsecond)
			}
			return out
		}},
		{"exponential around 2 ms", func(r *rand.Rand) []time.Duration {
			out := make([]time.Duration, 50000)
			for i := range out {
				out[i] = time.Duration(r.ExpFloat64() * float64(2*time.Millisecond))
			}
			return out
		}},
		{"bimodal with a slow tail", func(r *rand.Rand) []time.Duration {
			out := make([]time.Duration, 20000)
			for i := range out {
				out[i] = time.Duration(500+r.IntN(100)) * time.Microsecond
				if i%50 == 0 {
					out[i] = time.Duration(200+r.IntN(50)) * time.Millisecond
				}
			}
			return out
		}},
		{"single value", func(*rand.Rand) []time.Duration { return []time.Duration{1234567} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			values := tt.values(rand.New(rand.NewPCG(1, 2)))
			// Record into two histograms and merge, as the workers do.
			var a, b Histogram
			for i, v := range values {
				if i%2 == 0 {
					a.Record(v)
				} else {
					b.Record(v)
				}
			}
			a.Merge(&b)
			if a.Count() != uint64(len(values)) {
				t.Fatalf("count = %d, want %d", a.Count(), len(values))
			}
			sorted := slices.Clone(values)
			slices.Sort(sorted)
			if a.Max() != sorted[len(sorted)-1] {
				t.Errorf("max = %v, want %v", a.Max(), sorted[len(sorted)-1])
			}
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
				exact := sorted[max(int(float64(len(sorted))*q+0.999999)-1, 0)]
				got := a.Quantile(q)
				if diff := float64(got-exact) / float64(exact); diff > 1.0/halfCount || diff < -1.0/halfCount {
					t.Errorf("p%v = %v, exact %v (off by %.2f %%)", q*100, got, exact, diff*100)
				}
			}
		})
	}
}

func TestEmptyHistogram(t *testing.T) {
	t.Parallel()
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Mean() != 0 || h.Max() != 0 {
		t.Fatal("an empty histogram must report zeros")
	}
	var o Histogram
	o.Record(5 * time.Millisecond)
	h.Merge(&o)
	if h.Quantile(0.5) != 5*time.Millisecond {
		t.Fatalf("p50 after merging into an empty histogram = %v", h.Quantile(0.5))
	}
}
