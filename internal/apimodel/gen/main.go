// Command gen extracts from botocore's Lambda model (lambda/2015-03-31/service-2.json) what
// internal/apimodel checks requests against: each operation's HTTP binding and the shapes its
// input reaches, with their types, members (in the model's order), required members and
// constraints. Documentation, outputs and errors are left out. Run through go generate in
// internal/apimodel; -model points at the model (the AWS CLI v2 installs it).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
)

// lambdaChecked lists shapes whose constraint Lambda checks itself, with its own message, so
// that the model's copy is dropped: the Runtime enum changes with every runtime AWS adds or
// retires, faster than the model, and Lambda answers a runtime outside it with
// InvalidParameterValueException.
var lambdaChecked = map[string]bool{"Runtime": true}

type rawShape struct {
	Type     string          `json:"type"`
	Min      *float64        `json:"min"`
	Max      *float64        `json:"max"`
	Pattern  string          `json:"pattern"`
	Enum     []string        `json:"enum"`
	Required []string        `json:"required"`
	Payload  string          `json:"payload"`
	Members  json.RawMessage `json:"members"`
	Member   *struct {
		Shape string `json:"shape"`
	} `json:"member"`
	Key *struct {
		Shape string `json:"shape"`
	} `json:"key"`
	Value *struct {
		Shape string `json:"shape"`
	} `json:"value"`
	Sensitive bool `json:"sensitive"`
}

type rawMember struct {
	Shape        string `json:"shape"`
	Location     string `json:"location"`
	LocationName string `json:"locationName"`
}

// Out is the file gen writes; internal/apimodel reads the same layout.
type Out struct {
	Source     string               `json:"source"`
	Operations map[string]Operation `json:"operations"`
	Shapes     map[string]Shape     `json:"shapes"`
}

// Operation is an operation's HTTP binding and input shape.
type Operation struct {
	Method string `json:"method"`
	URI    string `json:"uri"`
	Input  string `json:"input,omitempty"`
}

// Shape is a shape with its constraints.
type Shape struct {
	Type      string   `json:"type"`
	Min       *int64   `json:"min,omitempty"`
	Max       *int64   `json:"max,omitempty"`
	Pattern   string   `json:"pattern,omitempty"`
	Enum      []string `json:"enum,omitempty"`
	Members   []Member `json:"members,omitempty"`
	Payload   string   `json:"payload,omitempty"`
	Member    string   `json:"member,omitempty"`
	Key       string   `json:"key,omitempty"`
	Value     string   `json:"value,omitempty"`
	Sensitive bool     `json:"sensitive,omitempty"`
}

// Member is a structure's member.
type Member struct {
	Name         string `json:"name"`
	Shape        string `json:"shape"`
	Location     string `json:"location,omitempty"`
	LocationName string `json:"locationName,omitempty"`
	Required     bool   `json:"required,omitempty"`
}

func main() {
	model := flag.String("model", "/usr/lib/python3/dist-packages/awscli/botocore/data/lambda/2015-03-31/service-2.json", "botocore's Lambda model")
	out := flag.String("o", "lambda.json", "output file")
	flag.Parse()
	data, err := os.ReadFile(*model)
	if err != nil {
		log.Fatal(err)
	}
	var m struct {
		Metadata   struct{ APIVersion string } `json:"metadata"`
		Operations map[string]struct {
			HTTP struct {
				Method     string `json:"method"`
				RequestURI string `json:"requestUri"`
			} `json:"http"`
			Input *struct {
				Shape string `json:"shape"`
			} `json:"input"`
		} `json:"operations"`
		Shapes map[string]rawShape `json:"shapes"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		log.Fatal(err)
	}
	o := Out{Source: "botocore lambda/" + m.Metadata.APIVersion + "/service-2.json, trimmed by internal/apimodel/gen",
		Operations: map[string]Operation{}, Shapes: map[string]Shape{}}
	var visit func(name string)
	visit = func(name string) {
		if _, done := o.Shapes[name]; done {
			return
		}
		rs, ok := m.Shapes[name]
		if !ok {
			log.Fatalf("shape %s not in the model", name)
		}
		s := Shape{Type: rs.Type, Pattern: rs.Pattern, Enum: rs.Enum, Payload: rs.Payload, Sensitive: rs.Sensitive,
			Min: toInt(rs.Min), Max: toInt(rs.Max)}
		if lambdaChecked[name] {
			s.Enum, s.Pattern = nil, ""
		}
		o.Shapes[name] = s // placeholder against cycles
		if rs.Member != nil {
			s.Member = rs.Member.Shape
			visit(s.Member)
		}
		if rs.Key != nil {
			s.Key = rs.Key.Shape
			visit(s.Key)
		}
		if rs.Value != nil {
			s.Value = rs.Value.Shape
			visit(s.Value)
		}
		if len(rs.Members) > 0 {
			names, err := orderedKeys(rs.Members)
			if err != nil {
				log.Fatalf("shape %s: %v", name, err)
			}
			var members map[string]rawMember
			if err := json.Unmarshal(rs.Members, &members); err != nil {
				log.Fatal(err)
			}
			req := map[string]bool{}
			for _, r := range rs.Required {
				req[r] = true
			}
			for _, n := range names {
				rm := members[n]
				s.Members = append(s.Members, Member{Name: n, Shape: rm.Shape, Location: rm.Location, LocationName: rm.LocationName, Required: req[n]})
				visit(rm.Shape)
			}
		}
		o.Shapes[name] = s
	}
	ops := make([]string, 0, len(m.Operations))
	for n := range m.Operations {
		ops = append(ops, n)
	}
	sort.Strings(ops)
	for _, n := range ops {
		op := m.Operations[n]
		oo := Operation{Method: op.HTTP.Method, URI: op.HTTP.RequestURI}
		if op.Input != nil {
			oo.Input = op.Input.Shape
			visit(oo.Input)
		}
		o.Operations[n] = oo
	}
	b, err := json.MarshalIndent(&o, "", " ")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "gen: %d operations, %d shapes\n", len(o.Operations), len(o.Shapes))
}

func toInt(f *float64) *int64 {
	if f == nil {
		return nil
	}
	v := int64(*f)
	return &v
}

// orderedKeys is an object's keys in the order they appear.
func orderedKeys(raw json.RawMessage) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, t.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
	}
	return keys, nil
}
