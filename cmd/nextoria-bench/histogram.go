package main

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: each power-of-two range of
// nanoseconds above 2^subBits is split into 2^(subBits-1) equal buckets, so
// a recorded value is known to within 1/32 (about 3 %) of itself, whatever
// its magnitude. That is HdrHistogram's idea at a coarser precision, which
// is plenty for the percentiles of a load run.
const (
	subBits     = 6
	subCount    = 1 << subBits // values below this are counted exactly
	halfCount   = subCount / 2 // buckets per power of two above it
	bucketCount = subCount + (64-subBits)*halfCount
)

// Histogram counts latencies in log-linear buckets. It is not safe for
// concurrent use: each worker records into its own and the results are
// merged once the run is over, so recording costs a few instructions and no
// synchronisation.
type Histogram struct {
	counts   [bucketCount]uint64
	n        uint64
	sum      float64 // nanoseconds
	min, max uint64  // nanoseconds
}

// bucketOf returns the index of the bucket holding v.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits // ≥ 1
	top := v >> shift                // in [halfCount, subCount)
	return subCount + (shift-1)*halfCount + int(top-halfCount)
}

// bucketBounds returns the smallest and largest value bucket i holds.
func bucketBounds(i int) (lo, hi uint64) {
	if i < subCount {
		return uint64(i), uint64(i)
	}
	shift := (i-subCount)/halfCount + 1
	top := uint64((i-subCount)%halfCount + halfCount)
	return top << shift, (top+1)<<shift - 1
}

// Record adds one latency; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds every count of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest recorded value.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is the average recorded value.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the value below which a fraction q (0 < q ≤ 1) of the
// recorded values fall: the midpoint of the bucket holding the value of rank
// ⌈q·n⌉, clamped to the recorded minimum and maximum.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketBounds(i)
			mid := lo + (hi-lo)/2
			return time.Duration(min(max(mid, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}
