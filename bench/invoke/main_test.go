package main

import (
	"slices"
	"testing"
)

func TestMemorySizesAreACommaSeparatedListOfLambdaSizes(t *testing.T) {
	tests := []struct {
		in   string
		want []int32
		ok   bool
	}{
		{"128,1769", []int32{128, 1769}, true},
		{"1769", []int32{1769}, true},
		{" 512 , 1024", []int32{512, 1024}, true},
		{"64", nil, false},
		{"128,", nil, false},
		{"lots", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := memorySizes(tt.in)
			if (err == nil) != tt.ok || !slices.Equal(got, tt.want) {
				t.Errorf("memorySizes(%q) = %v, %v", tt.in, got, err)
			}
		})
	}
}
