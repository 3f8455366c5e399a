package main

import (
	"reflect"
	"testing"
)

func TestScanMarkersFindsEveryEventOfTheRun(t *testing.T) {
	frame := []byte(`[{"type":"message","text":"r1:0:xx"},{"text": "r1:12:x"},` +
		`{"text":"r2:3:x"},{"text":"r1:7"},{"text":"r1::x"}]`)
	var got []int
	hits := scanMarkers(frame, []byte("r1:"), func(k int) { got = append(got, k) })
	if hits != 2 || !reflect.DeepEqual(got, []int{0, 12}) {
		t.Fatalf("hits %d, ks %v", hits, got)
	}
}

func TestDistributionMatchesPythonNearestRank(t *testing.T) {
	values := []float64{5, 1, 4, 2, 3}
	d := newDistribution(values)
	if d.Count != 5 || d.P50 != 3 || d.P95 != 5 || d.P99 != 5 || d.Max != 5 || d.Mean != 3 {
		t.Fatalf("%+v", d)
	}
	// round(i / 400 * 4) with ties to even, as Python's round().
	if d.Quantiles[50] != 1 || d.Quantiles[150] != 3 || d.Quantiles[400] != 5 {
		t.Fatalf("quantiles %v", d.Quantiles[:5])
	}
	if b, _ := newDistribution(nil).MarshalJSON(); string(b) != `{"count":0}` {
		t.Fatalf("empty: %s", b)
	}
}
