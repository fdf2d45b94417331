package filter

import (
	"encoding/json"
	"errors"
	"testing"
)

func doc(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMatch(t *testing.T) {
	record := `{"partitionKey":"k1","data":{"city":"Seattle","temp":72.5,"tags":["a","b"],"ok":true,"none":null,
		"nested":{"level":"INFO","n":3},"items":[{"id":1},{"id":2}],"empty":[]}}`
	cases := []struct {
		name, pattern string
		want          bool
	}{
		{"a string equal to the listed one matches", `{"data":{"city":["Seattle"]}}`, true},
		{"a string not listed does not match", `{"data":{"city":["Boston"]}}`, false},
		{"any of several listed values matches", `{"data":{"city":["Boston","Seattle"]}}`, true},
		{"a number matches numerically", `{"data":{"temp":[72.50]}}`, true},
		{"a boolean matches", `{"data":{"ok":[true]}}`, true},
		{"null matches a null value", `{"data":{"none":[null]}}`, true},
		{"null does not match an absent key", `{"data":{"missing":[null]}}`, false},
		{"prefix matches the start", `{"data":{"city":[{"prefix":"Sea"}]}}`, true},
		{"prefix does not match elsewhere", `{"data":{"city":[{"prefix":"attle"}]}}`, false},
		{"suffix matches the end", `{"data":{"city":[{"suffix":"ttle"}]}}`, true},
		{"equals-ignore-case ignores case", `{"data":{"city":[{"equals-ignore-case":"SEATTLE"}]}}`, true},
		{"anything-but of another value matches", `{"data":{"city":[{"anything-but":"Boston"}]}}`, true},
		{"anything-but of the value does not match", `{"data":{"city":[{"anything-but":["Boston","Seattle"]}]}}`, false},
		{"anything-but prefix excludes the prefix", `{"data":{"city":[{"anything-but":{"prefix":"Sea"}}]}}`, false},
		{"anything-but does not match an absent key", `{"data":{"missing":[{"anything-but":"x"}]}}`, false},
		{"a numeric range containing the value matches", `{"data":{"temp":[{"numeric":[">",70,"<=",73]}]}}`, true},
		{"a numeric range without the value does not match", `{"data":{"temp":[{"numeric":[">",73]}]}}`, false},
		{"numeric equality matches", `{"data":{"nested":{"n":[{"numeric":["=",3]}]}}}`, true},
		{"numeric does not match a string", `{"data":{"city":[{"numeric":[">",0]}]}}`, false},
		{"exists true matches a present key", `{"data":{"city":[{"exists":true}]}}`, true},
		{"exists true does not match an absent key", `{"data":{"missing":[{"exists":true}]}}`, false},
		{"exists false matches an absent key", `{"data":{"missing":[{"exists":false}]}}`, true},
		{"exists false does not match a present key", `{"data":{"city":[{"exists":false}]}}`, false},
		{"exists false matches an absent nested object's key", `{"data":{"absent":{"x":[{"exists":false}]}}}`, true},
		{"exists true does not match an empty list", `{"data":{"empty":[{"exists":true}]}}`, false},
		{"a value in a list of the record matches", `{"data":{"tags":["b"]}}`, true},
		{"a nested pattern in a list of objects matches one", `{"data":{"items":{"id":[2]}}}`, true},
		{"every field must match", `{"partitionKey":["k1"],"data":{"city":["Boston"]}}`, false},
		{"fields at several levels all match", `{"partitionKey":["k1"],"data":{"nested":{"level":["INFO"]}}}`, true},
		{"$or matches when one branch does", `{"data":{"$or":[{"city":["Boston"]},{"temp":[{"numeric":[">",70]}]}]}}`, true},
		{"$or does not match when no branch does", `{"$or":[{"partitionKey":["k2"]},{"data":{"city":["Boston"]}}]}`, false},
		{"a pattern on a missing object does not match", `{"body":{"city":["Seattle"]}}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Compile(c.pattern)
			if err != nil {
				t.Fatalf("Compile(%s): %v", c.pattern, err)
			}
			if got := p.Match(doc(t, record)); got != c.want {
				t.Fatalf("Match(%s) = %v, want %v", c.pattern, got, c.want)
			}
		})
	}
}

func TestCompileRefuses(t *testing.T) {
	for name, p := range map[string]string{
		"text that is not JSON":                `{"data":`,
		"a pattern that is not an object":      `["a"]`,
		"a bare value instead of a list":       `{"data":"x"}`,
		"an empty list":                        `{"data":[]}`,
		"an unknown operator":                  `{"data":[{"contains":"x"}]}`,
		"a numeric bound that is not a number": `{"n":[{"numeric":[">","5"]}]}`,
		"a numeric range the wrong way round":  `{"n":[{"numeric":["<",5,">",1]}]}`,
		"exists with a string":                 `{"n":[{"exists":"yes"}]}`,
		"a $or with one branch":                `{"$or":[{"a":["b"]}]}`,
		"an empty object":                      `{"data":{}}`,
		"two operators in one matcher":         `{"a":[{"prefix":"x","suffix":"y"}]}`,
	} {
		t.Run("it refuses "+name, func(t *testing.T) {
			if _, err := Compile(p); !errors.Is(err, ErrInvalidPattern) {
				t.Fatalf("Compile(%s) = %v, want ErrInvalidPattern", p, err)
			}
		})
	}
}

func TestCriteriaKeepsARecordAnyFilterMatches(t *testing.T) {
	c, err := CompileAll([]string{`{"a":["x"]}`, `{"a":["y"]}`})
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]bool{`{"a":"x"}`: true, `{"a":"y"}`: true, `{"a":"z"}`: false} {
		if got := c.Keep(doc(t, in)); got != want {
			t.Errorf("Keep(%s) = %v, want %v", in, got, want)
		}
	}
	if !(Criteria{}).Keep(doc(t, `{}`)) {
		t.Error("no filters must keep every record")
	}
	if _, err := CompileAll([]string{"{}", "{}", "{}", "{}", "{}", "{}"}); err == nil {
		t.Error("six filters were accepted")
	}
}

func FuzzPattern(f *testing.F) {
	f.Add(`{"data":{"a":[{"numeric":[">",1,"<",5]},"x",null]}}`, `{"data":{"a":3}}`)
	f.Add(`{"$or":[{"a":[{"prefix":"p"}]},{"b":{"c":[{"exists":false}]}}]}`, `{"a":["px",1],"b":[{"c":1}]}`)
	f.Add(`{"a":[{"anything-but":{"suffix":"z"}}]}`, `{"a":"yz"}`)
	f.Fuzz(func(t *testing.T, pattern, record string) {
		p, err := Compile(pattern)
		if err != nil {
			if !errors.Is(err, ErrInvalidPattern) {
				t.Fatalf("Compile's error does not wrap ErrInvalidPattern: %v", err)
			}
			return
		}
		v, ok := Decode([]byte(record))
		if !ok {
			return
		}
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		first := p.Match(m)
		if p.Match(m) != first {
			t.Fatal("Match is not deterministic")
		}
	})
}
