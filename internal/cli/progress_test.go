package cli

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestProgressReader(t *testing.T) {
	tests := []struct {
		name string
		live bool
		want []string
		not  []string
	}{
		{name: "off a terminal only the end is reported, once", want: []string{"uploaded 100.0 KiB\n"}, not: []string{"uploading", "\r"}},
		{name: "on a terminal a line is redrawn per tenth and ends with a newline", live: true,
			want: []string{"\ruploading 10.0 KiB / 100.0 KiB (10%)", "\ruploading 90.0 KiB / 100.0 KiB (90%)", "\ruploaded 100.0 KiB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			body := strings.Repeat("x", 100<<10)
			r := &progressReader{rc: io.NopCloser(strings.NewReader(body)), total: int64(len(body)), out: &out, live: tt.live}
			buf := make([]byte, 1<<10)
			var n int
			for {
				k, err := r.Read(buf)
				n += k
				if err != nil {
					break
				}
			}
			if n != len(body) {
				t.Fatalf("read %d bytes, want %d", n, len(body))
			}
			got := out.String()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("output %q lacks %q", got, w)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(got, w) {
					t.Errorf("output %q contains %q", got, w)
				}
			}
			if strings.Count(got, "uploaded") != 1 || !strings.HasSuffix(got, "\n") {
				t.Errorf("output %q should end with one uploaded line", got)
			}
		})
	}
}
