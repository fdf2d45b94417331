package harness

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestRoundRatiosPairTheSameRounds(t *testing.T) {
	for _, tt := range []struct {
		name         string
		figures, ref []float64
		want         []float64
	}{
		{"each round over the reference's same round", []float64{2, 3, 8}, []float64{1, 2, 4}, []float64{2, 1.5, 2}},
		{"rounds the target missed are left out", []float64{2}, []float64{1, 2, 4}, []float64{2}},
		{"a round that measured nothing is left out", []float64{0, 3}, []float64{1, 2}, []float64{1.5}},
		{"no reference, no ratios", []float64{1, 2}, nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := roundRatios(tt.figures, tt.ref); !slices.Equal(got, tt.want) {
				t.Errorf("roundRatios(%v, %v) = %v, want %v", tt.figures, tt.ref, got, tt.want)
			}
		})
	}
}

func TestTheTableShowsTheRoundsSpreadBesideTheRatio(t *testing.T) {
	floor := Row{Target: "floor", Phase: "1 client", Clients: 1, N: 10, P50Ms: 0.4}
	ember := ratioP50(Row{Target: "ember", Phase: "1 client", Clients: 1, N: 10, P50Ms: 0.48}, floor,
		[]float64{0.44, 0.52, 0.48}, []float64{0.40, 0.40, 0.40})
	if ember.Ratio < 1.19 || ember.Ratio > 1.21 || len(ember.RoundRatios) != 3 {
		t.Fatalf("ratio %v, rounds %v", ember.Ratio, ember.RoundRatios)
	}
	var b bytes.Buffer
	r := &Report{Rows: []Row{floor, ember}}
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "1.20× floor p50, rounds 1.10–1.30") {
		t.Errorf("table lacks the ratio with its rounds' spread:\n%s", b.String())
	}
}
