package main

import (
	"encoding/json"
	"math"
	"sort"
	"syscall"
	"time"
)

// distribution mirrors bench/loadgen/_stats.py `distribution`: p50/p95/p99/max/mean and
// 401 quantiles for the CDF chart, in seconds; an empty one is {"count": 0}.
type distribution struct {
	Count     int
	P50       float64
	P95       float64
	P99       float64
	Max       float64
	Mean      float64
	Quantiles []float64
}

const quantilePoints = 400

func newDistribution(values []float64) distribution {
	s := append([]float64(nil), values...)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return distribution{}
	}
	q := make([]float64, quantilePoints+1)
	for i := range q {
		// Python's round() rounds half to even; keep the same sample points.
		idx := int(math.RoundToEven(float64(i) / quantilePoints * float64(n-1)))
		q[i] = s[min(n-1, idx)]
	}
	sum := 0.0
	for _, v := range s {
		sum += v
	}
	return distribution{
		Count: n, P50: percentile(s, 50), P95: percentile(s, 95), P99: percentile(s, 99),
		Max: s[n-1], Mean: sum / float64(n), Quantiles: q,
	}
}

// percentile is the nearest-rank percentile of sorted values (q in 0..100).
func percentile(sorted []float64, q float64) float64 {
	rank := max(1, int(math.Ceil(q/100*float64(len(sorted)))))
	return sorted[min(rank, len(sorted))-1]
}

func (d distribution) MarshalJSON() ([]byte, error) {
	if d.Count == 0 {
		return []byte(`{"count":0}`), nil
	}
	return json.Marshal(struct {
		Count     int       `json:"count"`
		P50       float64   `json:"p50"`
		P95       float64   `json:"p95"`
		P99       float64   `json:"p99"`
		Max       float64   `json:"max"`
		Mean      float64   `json:"mean"`
		Quantiles []float64 `json:"quantiles"`
	}{d.Count, d.P50, d.P95, d.P99, d.Max, d.Mean, d.Quantiles})
}

// cpuMeter gives the share of one core this process used between start and stop, like
// the Python CpuMeter (all threads of the process count, the Go runtime's included).
type cpuMeter struct {
	wall time.Time
	cpu  time.Duration
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() cpuMeter { return cpuMeter{time.Now(), processCPU()} }

func (m cpuMeter) stop() float64 {
	wall := time.Since(m.wall)
	if wall <= 0 {
		return 0
	}
	return float64(processCPU()-m.cpu) / float64(wall)
}
